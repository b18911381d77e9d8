package registry

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// describe turns a lookup error into the few words an author or
// operator needs: "401 unauthorized", "timeout after 3s",
// "connection refused".
func describe(err error, timeout time.Duration) string {
	var terr *transport.Error
	var dns *net.DNSError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timeout after %s", timeout)
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &terr):
		msg := fmt.Sprintf("%d %s", terr.StatusCode, strings.ToLower(http.StatusText(terr.StatusCode)))
		for _, d := range terr.Errors {
			msg += " (" + string(d.Code) + ")"
			break
		}
		return msg
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dns):
		return "no such host"
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid):
		return "TLS certificate not trusted"
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "the registry speaks plain HTTP"
	}
	return redact(err.Error())
}

var (
	queryString = regexp.MustCompile(`\?[^\s"]*`)
	userInfo    = regexp.MustCompile(`//[^/@\s]*@`)
)

// redact cuts what an unexpected error's URLs could carry besides the
// host and path.
func redact(s string) string {
	s = queryString.ReplaceAllString(s, "")
	s = userInfo.ReplaceAllString(s, "//")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
