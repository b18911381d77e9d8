package envfile

import "fmt"

// fmtQ quotes as the kubelet's FormatMap does (%q).
func fmtQ(s string) string { return fmt.Sprintf("%q", s) }
