// Tests of the tokenizer on its own: token kinds, values, offsets and the
// label-key/keyword context rule.

package selector

import (
	"fmt"
	"strings"
	"testing"
)

// lexAll renders the token stream as "kind@pos[=val]" items.
func lexAll(s string) (string, error) {
	lx := lexer{src: s}
	var out []string
	for {
		tok, err := lx.next()
		if err != nil {
			return strings.Join(out, " "), err
		}
		item := fmt.Sprintf("%s@%d", strings.Trim(tokNames[tok.kind], "'"), tok.pos)
		switch tok.kind {
		case tokLabel:
			item = fmt.Sprintf("key@%d=%s", tok.pos, tok.val)
		case tokString:
			item = fmt.Sprintf("str@%d=%s", tok.pos, tok.val)
		case tokHas:
			item = fmt.Sprintf("has@%d=%s", tok.pos, tok.val)
		}
		out = append(out, item)
		if tok.kind == tokEOF {
			return strings.Join(out, " "), nil
		}
	}
}

func TestTokenizer(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, `end of selector@0`},
		{"  \t", `end of selector@3`},
		{`a=="b"`, `key@0=a ==@1 str@3=b end of selector@6`},
		{`a != 'b c'`, `key@0=a !=@2 str@5=b c end of selector@10`},
		{`!!has( x.y/z )`, `!@0 !@1 has@2=x.y/z end of selector@14`},
		{`all()&&global( )||(`, `all()@0 &&@5 global()@7 ||@16 (@18 end of selector@19`},
		{`k in {"a",'b',}`, `key@0=k in@2 {@5 str@6=a ,@9 str@10=b ,@13 }@14 end of selector@15`},
		{`k not  in{}`, `key@0=k not in@2 {@9 }@10 end of selector@11`},
		{`k notin {}`, `key@0=k not in@2 {@8 }@9 end of selector@10`},
		{`k starts with""`, `key@0=k starts with@2 str@13= end of selector@15`},
		{"k ends\twith ''", `key@0=k ends with@2 str@12= end of selector@14`},
		{`k contains "x"`, `key@0=k contains@2 str@11=x end of selector@14`},
		// Keywords are keys unless they directly follow a key.
		{`in in {}`, `key@0=in in@3 {@6 }@7 end of selector@8`},
		{`contains contains ""`, `key@0=contains contains@9 str@18= end of selector@20`},
		{`not not in {}`, `key@0=not not in@4 {@11 }@12 end of selector@13`},
		{`starts == ""`, `key@0=starts ==@7 str@10= end of selector@12`},
		{`has == ""`, `key@0=has ==@4 str@7= end of selector@9`},
		{`has (a)`, `key@0=has (@4 key@5=a )@6 end of selector@7`},
		{`a == in`, `key@0=a ==@2 key@5=in end of selector@7`},
		{`-._/ == ""`, `key@0=-._/ ==@5 str@8= end of selector@10`},
		// '!' followed by '=' is always "!=".
		{`!=`, `!=@0 end of selector@2`},
		{`!!=`, `!@0 !=@1 end of selector@3`},
		// Strings hold any byte but their own quote.
		{`"a'b" 'c"d'`, `str@0=a'b str@6=c"d end of selector@11`},
		{"\"\xff\n\"", "str@0=\xff\n end of selector@4"},
	} {
		got, err := lexAll(tc.in)
		if err != nil {
			t.Errorf("lex(%q): %v (after %s)", tc.in, err, got)
			continue
		}
		if got != tc.want {
			t.Errorf("lex(%q):\n got  %s\n want %s", tc.in, got, tc.want)
		}
	}
}
