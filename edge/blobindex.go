// The blob index: every blob the served catalog references, with its
// size, so the edge serves and fetches nothing else. It is immutable like
// the rest of the view, and shared between views: a catalog change copies
// only the shards whose blobs it adds or drops, so installing a change
// costs what it touches, not the number of files in the catalog.

package edge

import "maps"

// blobShards splits the index by the first three hex digits of a sha.
const blobShards = 4096

type blobRef struct {
	size int64
	refs int32 // apps' bundles naming it (a file shared by bundles counts once per app)
}

type blobIndex struct {
	shards [blobShards]map[string]blobRef
}

func shardOf(sha string) int {
	if len(sha) < 3 {
		return 0
	}
	n := 0
	for i := 0; i < 3; i++ {
		c := sha[i]
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		default:
			return 0
		}
	}
	return n
}

// size looks a blob up.
func (bi *blobIndex) size(sha string) (int64, bool) {
	r, ok := bi.shards[shardOf(sha)][sha]
	return r.size, ok
}

// with returns an index with the adds counted in and the drops counted
// out (each an app's blob set).
func (bi *blobIndex) with(adds, drops map[string]int64) *blobIndex {
	out := &blobIndex{shards: bi.shards}
	copied := map[int]bool{}
	shard := func(sha string) map[string]blobRef {
		i := shardOf(sha)
		if !copied[i] {
			copied[i] = true
			if out.shards[i] == nil {
				out.shards[i] = map[string]blobRef{}
			} else {
				out.shards[i] = maps.Clone(out.shards[i])
			}
		}
		return out.shards[i]
	}
	for sha := range drops {
		if _, both := adds[sha]; both {
			continue
		}
		m := shard(sha)
		if r := m[sha]; r.refs <= 1 {
			delete(m, sha)
		} else {
			r.refs--
			m[sha] = r
		}
	}
	for sha, size := range adds {
		if _, both := drops[sha]; both {
			continue
		}
		m := shard(sha)
		r := m[sha]
		r.size = size
		r.refs++
		m[sha] = r
	}
	return out
}
