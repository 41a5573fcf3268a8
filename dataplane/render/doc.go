// Package render turns the dataplane's desired state, as the calculation
// graph describes it in proto messages, into the nftables table untrackd
// wants: chains of typed rules and the sets they use.
//
// Rendering is a pure function: no I/O, no clock, no logger. The same input
// always gives the same output, which the golden tests pin down.
//
// Table layout (inet untrackd):
//
//	raw-prerouting  hook prerouting, priority raw (-300), before conntrack
//	    failsafe: inbound failsafe ports and replies to outbound ones → accept (stay tracked)
//	    iifname <hep iface> goto hep-untracked-in-<hep>
//	raw-output      hook output, priority raw
//	    failsafe: outbound failsafe ports and replies to inbound ones → accept
//	    oifname <hep iface> goto hep-untracked-out-<hep>
//	hep-untracked-{in,out}-<hep>
//	    clear the pass mark; jump to each untracked policy's chain in order;
//	    after a policy that can Pass: return if the pass mark is set
//	pol-untracked-{in,out}-<policy>
//	    one rule per policy rule (per IP family where it matters):
//	    Allow → set the allow mark, notrack, accept;  Deny → drop;
//	    Log → log and continue;  Pass → set the pass mark, return
//	filter-{input,forward,output}  hook input/forward/output, priority filter (0)
//	    accept packets carrying the allow mark (untracked policy allowed them)
//
// A packet no untracked policy decides falls off the end of the raw chains
// and is tracked as usual.
package render
