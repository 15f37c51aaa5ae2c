// A fast decoder for bundle records. A large catalog's snapshot is
// almost all bundle manifests (a million entries at 1,000 apps), and
// encoding/json decodes them at about 50 MB/s, through reflection, after
// checking the whole body once more first. The origin encodes bundles
// with encoding/json from these very types, so DecodeBundle reads that
// shape directly and then proves it read it right: the result must
// encode back to exactly the bytes it was given. Anything else (a field
// this build does not know, other spacing, a null) goes through
// encoding/json, whose answer stands.

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
)

// DecodeBundle decodes a bundle's JSON as encoding/json would. exact
// reports whether encoding the result gives body back byte for byte, so
// a receiver that must pass the bytes on can re-encode them instead of
// keeping them.
func DecodeBundle(body []byte) (b *Bundle, exact bool, err error) {
	if b, ok := fastBundle(body); ok && encodesTo(b, body) {
		return b, true, nil
	}
	b = &Bundle{}
	if err := json.Unmarshal(body, b); err != nil {
		return nil, false, err
	}
	return b, encodesTo(b, body), nil
}

// encodeBufs are the buffers encodesTo encodes into: a snapshot's
// bundles are re-encoded one after another, hundreds of megabytes that
// json.Marshal would hand back as garbage.
var encodeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encodesTo reports whether json.Marshal(v) would give exactly body.
func encodesTo(v any, body []byte) bool {
	buf := encodeBufs.Get().(*bytes.Buffer)
	defer encodeBufs.Put(buf)
	buf.Reset()
	// Encoder.Encode writes what Marshal returns, plus a newline.
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		return false
	}
	return bytes.Equal(bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), body)
}

var errNotFast = errors.New("api: not the origin's encoding")

// fastBundle reads body as the origin writes a bundle; ok is false for
// anything it does not expect. It need not reject every malformed input:
// DecodeBundle keeps its answer only when it encodes back to body.
func fastBundle(body []byte) (*Bundle, bool) {
	p := fastParser{b: body}
	b := &Bundle{}
	err := p.object(func(key string) error {
		switch key {
		case "version":
			return p.str(&b.Version)
		case "zip":
			return p.str(&b.Zip)
		case "zip_size":
			return p.int(&b.ZipSize)
		case "checksum":
			return p.str(&b.Checksum)
		case "checksum_crc32":
			return p.str(&b.ChecksumCRC32)
		case "session_key":
			return p.str(&b.SessionKey)
		case "key_id":
			return p.str(&b.KeyID)
		case "min_update_version":
			return p.str(&b.MinUpdateVersion)
		case "link":
			return p.str(&b.Link)
		case "comment":
			return p.str(&b.Comment)
		case "created_ms":
			return p.int(&b.Created)
		case "manifest":
			return p.manifest(&b.Manifest)
		}
		return errNotFast
	})
	return b, err == nil && p.i == len(body)
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) at(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// object reads {"key":value,...}, calling field for each key with the
// parser at its value.
func (p *fastParser) object(field func(string) error) error {
	if !p.at('{') {
		return errNotFast
	}
	if p.at('}') {
		return nil
	}
	for {
		var key string
		if err := p.str(&key); err != nil || !p.at(':') {
			return errNotFast
		}
		if err := field(key); err != nil {
			return err
		}
		if p.at('}') {
			return nil
		}
		if !p.at(',') {
			return errNotFast
		}
	}
}

// str reads a string; one with escapes goes through encoding/json.
func (p *fastParser) str(out *string) error {
	s, end, err := jsonString(p.b, p.i)
	if err != nil {
		return errNotFast
	}
	*out, p.i = s, end
	return nil
}

func (p *fastParser) int(out *int64) error {
	j := p.i
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(p.b[p.i:j]), 10, 64)
	if err != nil {
		return errNotFast
	}
	*out, p.i = n, j
	return nil
}

func (p *fastParser) manifest(out *[]ManifestEntry) error {
	if !p.at('[') {
		return errNotFast
	}
	if p.at(']') {
		*out = []ManifestEntry{}
		return nil
	}
	// Count the entries first: one allocation for the slice.
	n := 1 + bytes.Count(p.b[p.i:], []byte(`},{"file_name"`))
	m := make([]ManifestEntry, 0, n)
	for {
		var e ManifestEntry
		err := p.object(func(key string) error {
			switch key {
			case "file_name":
				return p.str(&e.FileName)
			case "file_hash":
				return p.str(&e.FileHash)
			case "blob":
				return p.str(&e.Blob)
			case "size":
				return p.int(&e.Size)
			}
			return errNotFast
		})
		if err != nil {
			return err
		}
		m = append(m, e)
		if p.at(']') {
			*out = m
			return nil
		}
		if !p.at(',') {
			return errNotFast
		}
	}
}
