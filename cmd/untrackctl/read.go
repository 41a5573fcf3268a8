package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/untrackd/untrackd/model"
)

// doc is one resource read from a file, and where: "seed.yaml document 2".
type doc struct {
	src string
	r   model.Resource
}

// docSeparator is a YAML document separator line.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// readResources reads every resource in the file name ("-": in). Each
// document is decoded strictly, as the daemon decodes a stored value; an
// error names the document. Nothing is validated here.
func readResources(name string, in io.Reader) ([]doc, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(in)
		name = "stdin"
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, err
	}
	var out []doc
	for i, part := range docSeparator.Split(string(data), -1) {
		src := fmt.Sprintf("%s document %d", name, i+1)
		items, err := documentItems([]byte(part))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		for j, item := range items {
			isrc := src
			if len(items) > 1 {
				isrc = fmt.Sprintf("%s item %d", src, j+1)
			}
			r, err := model.Decode(item)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", isrc, err)
			}
			out = append(out, doc{src: isrc, r: r})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no resources", name)
	}
	return out, nil
}

// documentItems converts one YAML or JSON document to the JSON of the
// resources in it: none for an empty document, one for a resource, each
// element of a sequence, or each item of a "<Kind>List".
func documentItems(d []byte) ([][]byte, error) {
	if len(strings.TrimSpace(stripComments(string(d)))) == 0 {
		return nil, nil
	}
	j, err := yaml.YAMLToJSONStrict(d)
	if err != nil {
		return nil, err
	}
	j = bytes.TrimSpace(j)
	if string(j) == "null" {
		return nil, nil
	}
	var list []json.RawMessage
	if j[0] == '[' {
		if err := json.Unmarshal(j, &list); err != nil {
			return nil, err
		}
		return raws(list), nil
	}
	var head struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(j, &head); err == nil && strings.HasSuffix(head.Kind, "List") && head.Items != nil {
		return raws(head.Items), nil
	}
	return [][]byte{j}, nil
}

func raws(l []json.RawMessage) [][]byte {
	out := make([][]byte, len(l))
	for i, r := range l {
		out[i] = r
	}
	return out
}

// stripComments drops YAML comment lines, so that a document of comments
// only counts as empty.
func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
