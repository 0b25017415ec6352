package blobstore

import (
	"net/url"
	"slices"
	"strings"
)

// redact is the description of a storage URL: without user information and query.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// Redacted stands in for a secret in RedactURL's result.
const Redacted = "REDACTED"

// RedactURL returns rawURL fit for a message or a log: without its user information (a user
// name may be an access key id), and with the value of every query parameter whose name
// suggests a secret (it holds secret, password, passwd, pwd, token, key, credential,
// signature, sig, auth or session, in any case) replaced by Redacted, as is the user
// information of a URL given as a parameter's value (endpoint=http://user:pass@host). Other
// parameters (region, endpoint) are kept, so the result still says where the storage is and
// opens the same storage when it held no secret. A string without secrets is returned as is;
// one that does not parse as a URL keeps its scheme, host and path, the rest becomes Redacted.
func RedactURL(rawURL string) string {
	if len(urlSecrets(rawURL)) == 0 {
		return rawURL // as given: a plain path is not re-escaped
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		s := scrub(rawURL, urlSecrets(rawURL))
		if i := strings.IndexAny(s, "?#"); i >= 0 {
			s = s[:i] + "?" + Redacted
		}
		return s
	}
	u.User = nil
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		changed := err != nil
		for k, vs := range q {
			for i, v := range vs {
				switch {
				case secretParam(k):
					vs[i], changed = Redacted, true
				case strings.Contains(v, "@") && strings.Contains(v, "://"):
					if r := RedactURL(v); r != v {
						vs[i], changed = r, true
					}
				}
			}
		}
		if err != nil {
			u.RawQuery = Redacted
		} else if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// secretParam reports whether a query parameter of this name may hold a secret.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"secret", "password", "passwd", "pwd", "token", "key", "credential", "sig", "auth", "session"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// urlSecrets returns the substrings of rawURL that RedactURL hides (user information, the
// values of secret parameters), raw and unescaped, without parsing it strictly: it serves
// also for strings url.Parse rejects.
func urlSecrets(rawURL string) []string {
	var secrets []string
	add := func(v string) {
		if v == "" {
			return
		}
		secrets = append(secrets, v)
		if u, err := url.QueryUnescape(v); err == nil && u != v {
			secrets = append(secrets, u)
		}
	}
	rest := rawURL
	if i := strings.Index(rest, "#"); i >= 0 {
		rest = rest[:i]
	}
	base, query, _ := strings.Cut(rest, "?")
	if _, auth, ok := strings.Cut(base, "://"); ok {
		if i := strings.IndexByte(auth, '/'); i >= 0 {
			auth = auth[:i]
		}
		if i := strings.LastIndexByte(auth, '@'); i >= 0 {
			userinfo := auth[:i]
			add(userinfo)
			for _, p := range strings.Split(userinfo, ":") {
				add(p)
			}
		}
	}
	for _, kv := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(kv, "=")
		if ku, err := url.QueryUnescape(k); err == nil {
			k = ku
		}
		switch {
		case secretParam(k):
			add(v)
		case strings.Contains(v, "@"):
			vu := v
			if x, err := url.QueryUnescape(v); err == nil {
				vu = x
			}
			secrets = append(secrets, urlSecrets(vu)...)
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(secrets)
}

// scrub replaces every secret in s by Redacted.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, Redacted)
	}
	return s
}

// scrubError returns err with every secret in its message replaced by Redacted; errors.Is
// and errors.As still see err.
func scrubError(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	msg := err.Error()
	if clean := scrub(msg, secrets); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

// redactedError is an error whose message has had secrets removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
