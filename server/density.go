package server

// nodeCost is what a conversion holds per YAML node, measured by
// bench.BenchmarkWorkingSet's dense inputs (peak over estimated nodes,
// worst of nine runs): about 310 bytes for a 1 MB flow list of one-letter
// items, which yaml.v3 makes into 500 000 nodes of ~150 bytes each, twice
// over once converted; about 250 for a block list.
const nodeCost = 360

// estimatedNodes is a cheap upper estimate of the YAML nodes a config
// makes, read off its bytes without parsing: every block sequence entry
// ("- "), every mapping entry (": ", a key and a value), every flow
// collection and flow entry. Configs as people write them spend 7 or
// more bytes a node, so the body-based WorkingSet covers them; a config
// written to be dense (a flow list of 500 000 one-letter items in 1 MB)
// holds several times more, and is charged for its nodes instead.
// Indicators inside quoted strings and comments are counted too: the
// estimate errs high, never low, on the shapes that are dense.
func estimatedNodes(body []byte) int64 {
	var n int64
	for i, c := range body {
		switch c {
		case ',', '[', '{':
			n++
		case '-', ':', '?':
			// The config arrives as a JSON string, where a line break is
			// the escape \n: a backslash counts as the separator it
			// starts.
			if i+1 == len(body) || body[i+1] == ' ' || body[i+1] == '\n' || body[i+1] == '\r' || body[i+1] == '\t' || body[i+1] == '\\' {
				if c == ':' {
					n += 2
				} else {
					n++
				}
			}
		}
	}
	return n
}

// WorkingSetOf is the memory a read body is admitted for: WorkingSet of
// its length, or what its nodes hold when it is denser than a config as
// people write them.
func WorkingSetOf(body []byte) int64 {
	return max(WorkingSet(int64(len(body))), workOverhead+nodeCost*estimatedNodes(body))
}
