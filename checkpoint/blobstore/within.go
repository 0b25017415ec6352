package blobstore

import (
	"net/url"
	"path/filepath"
	"strings"
)

// Within returns the path of the location loc relative to the storage root at rootURL, and
// whether loc lies strictly below it in the same store: the same scheme and host (for s3://,
// the bucket), and a path below the root's path (for file://, both resolved to absolute
// directories as OpenURL resolves them). Queries are not compared: they configure the client
// (an endpoint, a region), not the location. mem:// and jobmanager storage are never shared
// between two opens, so nothing lies within them. The result is a clean slash-separated path
// without a trailing slash, e.g. "job/chk-5" or "savepoints/savepoint-1".
func Within(rootURL, loc string) (string, bool) {
	r, err1 := url.Parse(rootURL)
	l, err2 := url.Parse(loc)
	if err1 != nil || err2 != nil || r.Scheme != l.Scheme {
		return "", false
	}
	switch r.Scheme {
	case "file":
		rp, err1 := fileRoot(r.Host, r.Path)
		lp, err2 := fileRoot(l.Host, l.Path)
		if err1 != nil || err2 != nil {
			return "", false
		}
		rel, err := filepath.Rel(rp, lp)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", false
		}
		return filepath.ToSlash(rel), true
	case "s3":
		if r.Host != l.Host {
			return "", false
		}
		rp, lp := strings.Trim(r.Path, "/"), strings.Trim(l.Path, "/")
		if rp != "" {
			rest, ok := strings.CutPrefix(lp, rp+"/")
			if !ok {
				return "", false
			}
			lp = rest
		}
		if lp == "" {
			return "", false
		}
		for _, e := range strings.Split(lp, "/") {
			if e == "" || e == "." || e == ".." {
				return "", false
			}
		}
		return lp, true
	}
	return "", false
}
