// Reading a feed as it arrives. A snapshot of a large catalog runs to
// hundreds of megabytes of JSON; decoded whole it is held twice (the
// bytes, then every record's copy) before the first record is checked.
// A FeedReader hands out the head (protocol, from, signed state) first
// and then one record at a time, so a receiver verifies the signature
// before it reads a record, and keeps only what it decoded.

package api

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// FeedReader is a feed read record by record. The origin encodes a Feed
// with its fields in declaration order, so the head precedes the
// records; a stream that puts records first is refused.
type FeedReader struct {
	Protocol int
	From     uint64
	State    []byte

	next func() (Record, bool, error)
	done bool
}

// Next returns the next record; ok is false after the last one. A
// record read from a stream (ReadFeed) shares its Body with the reader's
// buffer: it is valid until the next call, so a caller that keeps a
// record copies its Body. A snapshot's hundreds of megabytes then pass
// through one buffer instead of becoming garbage record by record.
func (fr *FeedReader) Next() (r Record, ok bool, err error) {
	if fr.done {
		return Record{}, false, nil
	}
	r, ok, err = fr.next()
	if !ok || err != nil {
		fr.done = true
	}
	return r, ok, err
}

// Reader reads f's records in order.
func (f *Feed) Reader() *FeedReader {
	i := 0
	return &FeedReader{Protocol: f.Protocol, From: f.From, State: f.State, next: func() (Record, bool, error) {
		if i >= len(f.Records) {
			return Record{}, false, nil
		}
		i++
		return f.Records[i-1], true, nil
	}}
}

// NewFeedReader reads head's protocol, from and state, then the records
// next yields (ok false after the last).
func NewFeedReader(head *Feed, next func() (Record, bool, error)) *FeedReader {
	return &FeedReader{Protocol: head.Protocol, From: head.From, State: head.State, next: next}
}

// ErrFeedStream is a feed whose JSON cannot be read as one.
var ErrFeedStream = errors.New("api: malformed feed stream")

// ReadFeed starts reading a feed's JSON from r: it returns once the
// head is read, and the records are decoded as Next asks for them.
// Unknown top-level fields are skipped (a newer origin may add some);
// after the last record the rest of the object must be well formed.
//
// It scans the stream itself rather than through encoding/json's
// Decoder, which reads every value twice (to find its end, then to
// decode it) and would read each record body a third time to copy it:
// a record's body is only cut out here, and is checked when the
// receiver decodes it.
func ReadFeed(r io.Reader) (*FeedReader, error) {
	sc := &feedScanner{r: bufio.NewReaderSize(r, 256<<10)}
	if err := sc.expect('{'); err != nil {
		return nil, err
	}
	fr := &FeedReader{}
	for first := true; ; first = false {
		key, end, err := sc.key(first)
		if err != nil {
			return nil, err
		}
		if end {
			fr.next = func() (Record, bool, error) { return Record{}, false, nil }
			return fr, nil
		}
		if key == "records" {
			if fr.State == nil {
				return nil, fmt.Errorf("%w: records before the signed state", ErrFeedStream)
			}
			return fr, sc.startRecords(fr)
		}
		v, err := sc.value(nil)
		if err != nil {
			return nil, err
		}
		switch key {
		case "protocol":
			err = json.Unmarshal(v, &fr.Protocol)
		case "from":
			err = json.Unmarshal(v, &fr.From)
		case "state":
			err = json.Unmarshal(v, &fr.State)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFeedStream, key, err)
		}
	}
}

// feedScanner cuts a feed's JSON into values without decoding them.
type feedScanner struct {
	r *bufio.Reader
}

func (sc *feedScanner) fail(what string, err error) error {
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %s: %v", ErrFeedStream, what, err)
}

// peek returns the next byte that is not blank, without consuming it.
func (sc *feedScanner) peek() (byte, error) {
	for {
		c, err := sc.r.ReadByte()
		if err != nil {
			return 0, sc.fail("reading", err)
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		_ = sc.r.UnreadByte()
		return c, nil
	}
}

func (sc *feedScanner) expect(want byte) error {
	c, err := sc.peek()
	if err != nil {
		return err
	}
	if c != want {
		return fmt.Errorf("%w: expected %q, got %q", ErrFeedStream, want, c)
	}
	_, _ = sc.r.ReadByte()
	return nil
}

// key reads an object's next key and its colon; end is true at the
// object's closing brace.
func (sc *feedScanner) key(first bool) (string, bool, error) {
	c, err := sc.peek()
	if err != nil {
		return "", false, err
	}
	if c == '}' {
		_, _ = sc.r.ReadByte()
		return "", true, nil
	}
	if !first {
		if c != ',' {
			return "", false, fmt.Errorf("%w: expected ',' between fields, got %q", ErrFeedStream, c)
		}
		_, _ = sc.r.ReadByte()
	}
	raw, err := sc.value(nil)
	if err != nil {
		return "", false, err
	}
	var k string
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", false, fmt.Errorf("%w: a key: %v", ErrFeedStream, err)
	}
	return k, false, sc.expect(':')
}

// value appends the next JSON value's bytes to buf. It finds the value's
// end (strings, escapes and nesting) without checking the rest of its
// grammar: whoever decodes the bytes does that.
func (sc *feedScanner) value(buf []byte) ([]byte, error) {
	if _, err := sc.peek(); err != nil {
		return nil, err
	}
	var st valueScan
	for {
		if _, err := sc.r.Peek(1); err != nil {
			if err == io.EOF && st.atomEnds() {
				return buf, nil // a number or literal ending the stream
			}
			return nil, sc.fail("a value", err)
		}
		// Scan what is buffered at once: a body is thousands of bytes.
		chunk, _ := sc.r.Peek(sc.r.Buffered())
		end, err := st.scan(chunk)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFeedStream, err)
		}
		if end >= 0 {
			return sc.take(buf, chunk, end), nil
		}
		buf = sc.take(buf, chunk, len(chunk))
		if len(buf) > MaxFeedBytes {
			return nil, fmt.Errorf("%w: a value over %d bytes", ErrFeedStream, MaxFeedBytes)
		}
	}
}

// valueScan finds where a JSON value ends, across as many pieces as it
// arrives in.
type valueScan struct {
	n        int // bytes scanned
	first    byte
	depth    int
	inString bool
	escaped  bool
}

// atomEnds reports whether the value scanned so far is complete if the
// input ends here (a number or literal).
func (st *valueScan) atomEnds() bool {
	return st.n > 0 && st.depth == 0 && !st.inString && st.first != '"' && st.first != '{' && st.first != '['
}

// scan reads the next piece: the index in b past the value's end, or -1
// when the value goes on.
func (st *valueScan) scan(b []byte) (int, error) {
	if st.n == 0 && len(b) > 0 {
		st.first = b[0]
	}
	defer func(n int) { st.n += n }(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if st.inString {
			if st.escaped {
				st.escaped = false
				continue
			}
			// Strings are most of a manifest: jump to their end.
			j := bytes.IndexByte(b[i:], '"')
			if j < 0 {
				j = len(b) - i
			}
			if k := bytes.IndexByte(b[i:i+j], '\\'); k >= 0 {
				i += k
				st.escaped = true
				continue
			}
			i += j
			if i == len(b) {
				return -1, nil
			}
			st.inString = false
			if st.depth == 0 {
				return i + 1, nil
			}
			continue
		}
		switch c {
		case '"':
			st.inString = true
		case '{', '[':
			st.depth++
		case '}', ']', ',', ' ', '\t', '\n', '\r', ':':
			if st.depth == 0 {
				if st.n+i == 0 {
					return 0, fmt.Errorf("expected a value, got %q", c)
				}
				return i, nil // a number or literal
			}
			if c == '}' || c == ']' {
				st.depth--
				if st.depth == 0 {
					return i + 1, nil
				}
			}
		}
	}
	return -1, nil
}

func (sc *feedScanner) take(buf, chunk []byte, n int) []byte {
	buf = append(buf, chunk[:n]...)
	_, _ = sc.r.Discard(n)
	return buf
}

// startRecords reads the records array's opening and makes fr read it.
func (sc *feedScanner) startRecords(fr *FeedReader) error {
	c, err := sc.peek()
	if err != nil {
		return err
	}
	if c == 'n' { // "records": null
		if v, err := sc.value(nil); err != nil || string(v) != "null" {
			return fmt.Errorf("%w: records is not an array", ErrFeedStream)
		}
		fr.next = func() (Record, bool, error) { return Record{}, false, sc.finish() }
		return nil
	}
	if err := sc.expect('['); err != nil {
		return err
	}
	first := true
	var buf []byte // one record's bytes, reused: Next's Body is valid until the next call
	fr.next = func() (Record, bool, error) {
		c, err := sc.peek()
		if err != nil {
			return Record{}, false, err
		}
		if c == ']' {
			_, _ = sc.r.ReadByte()
			return Record{}, false, sc.finish()
		}
		if !first {
			if c != ',' {
				return Record{}, false, fmt.Errorf("%w: expected ',' between records, got %q", ErrFeedStream, c)
			}
			_, _ = sc.r.ReadByte()
		}
		first = false
		raw, err := sc.value(buf[:0])
		if err != nil {
			return Record{}, false, err
		}
		buf = raw
		r, err := parseRecord(raw)
		return r, err == nil, err
	}
	return nil
}

// finish reads the rest of the feed object after its records.
func (sc *feedScanner) finish() error {
	for {
		_, end, err := sc.key(false)
		if err != nil || end {
			return err
		}
		if _, err := sc.value(nil); err != nil {
			return err
		}
	}
}

// parseRecord reads one record object ({"a":…,"k":…,"n":…,"b":…});
// its body stays a slice of raw, checked when it is decoded.
func parseRecord(raw []byte) (Record, error) {
	var r Record
	bad := func(what string) (Record, error) {
		return Record{}, fmt.Errorf("%w: a record: %s", ErrFeedStream, what)
	}
	i := skipBlank(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return bad("not an object")
	}
	i++
	for first := true; ; first = false {
		i = skipBlank(raw, i)
		if i >= len(raw) {
			return bad("cut short")
		}
		if raw[i] == '}' {
			if skipBlank(raw, i+1) != len(raw) {
				return bad("trailing bytes")
			}
			return r, nil
		}
		if !first {
			if raw[i] != ',' {
				return bad("expected ','")
			}
			i = skipBlank(raw, i+1)
		}
		key, j, err := jsonString(raw, i)
		if err != nil {
			return bad("a key")
		}
		i = skipBlank(raw, j)
		if i >= len(raw) || raw[i] != ':' {
			return bad("expected ':'")
		}
		i = skipBlank(raw, i+1)
		switch key {
		case "a", "k", "n":
			v, j, err := jsonString(raw, i)
			if err != nil {
				return bad("field " + key)
			}
			switch key {
			case "a":
				r.App = v
			case "k":
				r.Kind = v
			default:
				r.Name = v
			}
			i = j
		default:
			j, err := valueEnd(raw, i)
			if err != nil {
				return bad(err.Error())
			}
			if key == "b" {
				r.Body = raw[i:j:j]
			}
			i = j
		}
	}
}

func skipBlank(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// jsonString decodes the JSON string at b[i:], returning it and the
// index past it.
func jsonString(b []byte, i int) (string, int, error) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, ErrFeedStream
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, nil
		case c == '\\' || c < 0x20:
			// Escapes (rare in ids and names): let encoding/json decode them.
			end, err := valueEnd(b, i)
			if err != nil {
				return "", 0, err
			}
			var s string
			if err := json.Unmarshal(b[i:end], &s); err != nil {
				return "", 0, err
			}
			return s, end, nil
		}
	}
	return "", 0, ErrFeedStream
}

// valueEnd returns the index past the JSON value at b[i:] (its extent
// only: whoever decodes the value checks its grammar).
func valueEnd(b []byte, i int) (int, error) {
	var st valueScan
	end, err := st.scan(b[i:])
	switch {
	case err != nil:
		return 0, err
	case end >= 0:
		return i + end, nil
	case st.atomEnds():
		return len(b), nil
	}
	return 0, errors.New("cut short")
}

// ReadAll decodes the rest of fr into a Feed.
func (fr *FeedReader) ReadAll() (*Feed, error) {
	f := &Feed{Protocol: fr.Protocol, From: fr.From, State: fr.State, Records: []Record{}}
	for {
		r, ok, err := fr.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return f, nil
		}
		r.Body = append(json.RawMessage(nil), r.Body...)
		f.Records = append(f.Records, r)
	}
}

// DecodeFeed reads one whole feed answer.
func DecodeFeed(r io.Reader) (*Feed, error) {
	fr, err := ReadFeed(r)
	if err != nil {
		return nil, err
	}
	return fr.ReadAll()
}

// WriteFeedJSON writes a feed's JSON to w, its records from each (which
// calls its argument once per record), without building the whole
// answer: the encoding a large snapshot needs. Bodies are written as
// they are (each is a record's JSON, as received or encoded).
func WriteFeedJSON(w io.Writer, from uint64, state []byte, each func(func(Record))) error {
	buf := appendFeedHead(make([]byte, 0, 64<<10), from, state)
	var err error
	first := true
	each(func(r Record) {
		if err != nil {
			return
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendRecordJSON(buf, r)
		if len(buf) >= 32<<10 {
			_, err = w.Write(buf)
			buf = buf[:0]
		}
	})
	if err != nil {
		return err
	}
	_, err = w.Write(append(buf, "]}\n"...))
	return err
}

// Each calls fn with each of f's records: f as WriteFeedJSON reads it.
func (f *Feed) Each(fn func(Record)) {
	for _, r := range f.Records {
		fn(r)
	}
}

func appendFeedHead(buf []byte, from uint64, state []byte) []byte {
	buf = append(buf, `{"protocol":`...)
	buf = strconv.AppendInt(buf, FeedProtocol, 10)
	buf = append(buf, `,"from":`...)
	buf = strconv.AppendUint(buf, from, 10)
	buf = append(buf, `,"state":"`...)
	buf = base64.StdEncoding.AppendEncode(buf, state)
	return append(buf, `","records":[`...)
}

// appendRecordJSON encodes r as encoding/json would (its tags, empty
// name and body left out).
func appendRecordJSON(buf []byte, r Record) []byte {
	buf = append(buf, `{"a":`...)
	buf = appendJSONString(buf, r.App)
	buf = append(buf, `,"k":`...)
	buf = appendJSONString(buf, r.Kind)
	if r.Name != "" {
		buf = append(buf, `,"n":`...)
		buf = appendJSONString(buf, r.Name)
	}
	if len(r.Body) > 0 {
		buf = append(buf, `,"b":`...)
		buf = append(buf, r.Body...)
	}
	return append(buf, '}')
}

func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
