package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func sampleFeed() *Feed {
	b, _ := json.Marshal(&Bundle{Version: "1.0.0", Zip: strings.Repeat("a", 64), ZipSize: 10, Checksum: "c", Created: 7,
		Manifest: []ManifestEntry{{FileName: "index.html", FileHash: strings.Repeat("b", 64), Blob: strings.Repeat("b", 64), Size: 3},
			{FileName: `odd "name"\with<escapes>.js`, FileHash: "h", Blob: "x"}}})
	return &Feed{Protocol: FeedProtocol, From: 4, State: []byte("signed\x00state"), Records: []Record{
		{App: "com.example.app", Kind: KindApp, Body: json.RawMessage(`{"app_id":"com.example.app","versions":["1.0.0"]}`)},
		{App: "com.example.app", Kind: KindBundle, Name: "1.0.0", Body: b},
		{App: "com.ex\"ample.é", Kind: KindChannel, Name: "beta\n"},
	}}
}

// TestReadFeed_MatchesEncodingJSON: the stream reader gives what
// encoding/json decodes, from any chunking of the bytes, and what
// WriteFeedJSON writes decodes with encoding/json to the same feed.
func TestReadFeed_MatchesEncodingJSON(t *testing.T) {
	f := sampleFeed()
	std, _ := json.Marshal(f)
	var ours bytes.Buffer
	if err := WriteFeedJSON(&ours, f.From, f.State, f.Each); err != nil {
		t.Fatal(err)
	}
	var back Feed
	if err := json.Unmarshal(ours.Bytes(), &back); err != nil || !reflect.DeepEqual(&back, f) {
		t.Fatalf("WriteFeedJSON decodes to %+v (%v)", back, err)
	}
	spaced := bytes.ReplaceAll(std, []byte(`,"`), []byte(" ,\n\t\"")) // blanks between tokens
	for name, in := range map[string][]byte{"encoding/json": std, "WriteFeedJSON": ours.Bytes(), "with blanks": spaced} {
		var want Feed
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeFeed(iotest.OneByteReader(bytes.NewReader(in)))
		if err != nil || !reflect.DeepEqual(got, &want) {
			t.Fatalf("%s, one byte at a time: %+v (%v)", name, got, err)
		}
		if got, err = DecodeFeed(bytes.NewReader(in)); err != nil || !reflect.DeepEqual(got, &want) {
			t.Fatalf("%s: %+v (%v)", name, got, err)
		}
	}
	// A newer origin's extra fields, before and after the records.
	extra := `{"protocol":2,"future":{"x":[1,"]"]},"from":4,"state":"AA==","records":[{"a":"x","k":"a","z":null,"b":{"app_id":"x"}}],"after":[true,-1.5e3]}`
	got, err := DecodeFeed(strings.NewReader(extra))
	if err != nil || len(got.Records) != 1 || string(got.Records[0].Body) != `{"app_id":"x"}` || got.From != 4 {
		t.Fatalf("extra fields: %+v (%v)", got, err)
	}
}

// TestReadFeed_RefusesMalformedStreams: every malformed stream is an
// ErrFeedStream, never a panic or a partial feed passed off as whole.
func TestReadFeed_RefusesMalformedStreams(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{"protocol":2,"records":[]}`, // records before the state
		`{"protocol":2,"state":"AA==","records":[{"a":"x","k":"a","b":{}}`,      // cut short
		`{"protocol":2,"state":"AA==","records":[{"a":"x","k":"a","b":{}} {}]}`, // no comma
		`{"protocol":2,"state":"AA==","records":[{"a":"x","k":"a","b":{}},]}`,
		`{"protocol":2,"state":"AA==","records":[1]}`,
		`{"protocol":2,"state":"AA==","records":[{"a":1}]}`,
		`{"protocol":2,"state":"AA==","records":[{"a":"x" "k":"a"}]}`,
		`{"protocol":"two","state":"AA==","records":[]}`,
		`{"protocol":2,"state":"AA==","records":{}}`,
		`{"protocol":2,"state":"AA==","records":[]`,
		`{"protocol":2,"state":"AA==","records":[],}`,
		`{"protocol":2 "state":"AA=="}`,
		`{"protocol":2,"state":"AA==","records":[{"a":"x\`,
	} {
		_, err := DecodeFeed(strings.NewReader(in))
		if !errors.Is(err, ErrFeedStream) {
			t.Errorf("%q: got %v, want ErrFeedStream", in, err)
		}
	}
}

// agreesWithEncodingJSON fails t unless DecodeBundle(in) errs exactly
// when encoding/json does, otherwise gives its value, and reports exact
// only when that value encodes back to in. It returns the bundle (nil on
// an error).
func agreesWithEncodingJSON(t *testing.T, in []byte) *Bundle {
	t.Helper()
	var want Bundle
	wantErr := json.Unmarshal(in, &want)
	got, exact, err := DecodeBundle(in)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, encoding/json %v", in, err, wantErr)
	}
	if err != nil {
		return nil
	}
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("%q: got %+v, encoding/json %+v", in, got, want)
	}
	if again, _ := json.Marshal(got); exact != bytes.Equal(again, in) {
		t.Fatalf("%q: exact=%v, encodes to %q", in, exact, again)
	}
	return got
}

// TestDecodeBundle_AgreesWithEncodingJSON: on the origin's own encoding
// and on thousands of mutations of it, DecodeBundle fails exactly when
// encoding/json does and otherwise gives encoding/json's value; exact is
// true only when the value encodes back to the input.
func TestDecodeBundle_AgreesWithEncodingJSON(t *testing.T) {
	seed := sampleFeed().Records[1].Body
	b, exact, err := DecodeBundle(seed)
	if err != nil || !exact || len(b.Manifest) != 2 || b.Manifest[1].FileName != `odd "name"\with<escapes>.js` {
		t.Fatalf("the origin's encoding: %+v exact=%v (%v)", b, exact, err)
	}
	if fb, ok := fastBundle(seed); !ok || !reflect.DeepEqual(fb, b) {
		t.Fatal("the fast path did not take the origin's own encoding")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]",:0123456789-.e \\u"abz`)
	decoded, fast := 0, 0
	for i := 0; i < 20000; i++ {
		in := append([]byte(nil), seed...)
		for m := 0; m <= rng.IntN(3); m++ {
			p := rng.IntN(len(in))
			switch rng.IntN(3) {
			case 0:
				in[p] = alphabet[rng.IntN(len(alphabet))]
			case 1:
				in = append(in[:p], in[p+1:]...)
			default:
				in = append(in[:p], append([]byte{alphabet[rng.IntN(len(alphabet))]}, in[p:]...)...)
			}
		}
		got := agreesWithEncodingJSON(t, in)
		if got == nil {
			continue
		}
		decoded++
		if fb, ok := fastBundle(in); ok && reflect.DeepEqual(fb, got) {
			fast++
		}
	}
	// The mutations must reach both paths for the comparison to mean anything.
	if decoded < 2000 || fast < 1000 {
		t.Fatalf("only %d mutations decoded, %d through the fast path", decoded, fast)
	}
	t.Logf("%d of 20000 mutations decoded, %d through the fast path", decoded, fast)
}

func BenchmarkDecodeBundle(b *testing.B) {
	bu := &Bundle{Version: "1.0.0", Checksum: "c"}
	for i := 0; i < 100; i++ {
		h := fmt.Sprintf("%064x", i)
		bu.Manifest = append(bu.Manifest, ManifestEntry{FileName: fmt.Sprintf("assets/chunk-%03d.js", i), FileHash: h, Blob: h, Size: 1000})
	}
	body, _ := json.Marshal(bu)
	b.SetBytes(int64(len(body)))
	b.Run("DecodeBundle", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := DecodeBundle(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var v Bundle
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
