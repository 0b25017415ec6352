package blobstore

import "github.com/streamstate/streamstate/checkpoint"

// SetFileSyncHook makes st, file:// storage from OpenURL, call fn with the path of every file
// and directory it fsyncs, after the fsync. It reports false for any other storage. Set it
// before st is used.
func SetFileSyncHook(st checkpoint.Storage, fn func(path string)) bool {
	b, ok := st.(*blobStorage)
	if !ok || b.dirs == nil {
		return false
	}
	b.dirs.onSync = fn
	return true
}
