// Golden-vector and round-trip tests for V3 encrypted checksums.

package bundle

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goldenChecksum is SHA-256("aloft golden vector"); goldenV3 is its V3 form
// under testdata/test_key_v2. It was computed with EncryptChecksumV3 and
// matched byte for byte by `openssl pkeyutl -sign -pkeyopt
// rsa_padding_mode:pkcs1` (OpenSSL 3.0) and by Node 20's
// crypto.privateEncrypt with RSA_PKCS1_PADDING, i.e. by the CLI's
// encryptChecksumV3.
const (
	goldenChecksum = "564a37eb73a57017862eca876ee9d9637f04d9abc30a83e828b832c5fe798d05"
	goldenV3       = "7eca829af8915e29cbe32f286685e302d4873b34d5345c41c037ab167ad77e7c" +
		"7171e636c5611aede423f9493f51c7b4fdb630cef0a03e057101ded7f1bfef33" +
		"593f419919cf0463cab318651a1d75d187b0ba842b49c4becb9a7c4ffbfab41e" +
		"eae5989d94d70392572301bcbb4b6b678572fd07dad27932f7b3610a916a8ea4" +
		"883adfd4a3d1f1f0af46a2dabd4cdad1506b38fa50eb41cc43fc53440dadcd87" +
		"c44f62e12b3fc22816b0d3afc0958f14cdd5f233cf7bb95d93f1b8f2f15f33b4" +
		"a796beae05db4661d79f7f350ce85731d0e6dec7d703c51ba79e23f9056fc8ce" +
		"d79fd19781d14030d2a9ee1cf369739512912da4390177f548ae9d0d01f095bc"
)

func TestChecksumV3Golden(t *testing.T) {
	priv, pub, _ := testKeys(t)
	if SHA256Hex([]byte("aloft golden vector")) != goldenChecksum {
		t.Fatal("golden checksum input changed")
	}
	got, err := EncryptChecksumV3(priv, goldenChecksum)
	if err != nil {
		t.Fatal(err)
	}
	if got != goldenV3 {
		t.Fatalf("EncryptChecksumV3 = %s\nwant %s", got, goldenV3)
	}
	back, err := DecryptChecksumV3(pub, goldenV3)
	if err != nil || back != goldenChecksum {
		t.Fatalf("DecryptChecksumV3 = %q, %v", back, err)
	}
	upper, err := DecryptChecksumV3(pub, strings.ToUpper(goldenV3))
	if err != nil || upper != goldenChecksum {
		t.Fatalf("uppercase input: %q, %v", upper, err)
	}

	t.Run("openssl", func(t *testing.T) {
		bin := needTool(t, "openssl")
		in := filepath.Join(t.TempDir(), "digest.bin")
		raw, _ := hex.DecodeString(goldenChecksum)
		if err := os.WriteFile(in, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "pkeyutl", "-sign", "-inkey", filepath.Join("testdata", "test_key_v2"),
			"-pkeyopt", "rsa_padding_mode:pkcs1", "-in", in).Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		if got := hex.EncodeToString(out); got != goldenV3 {
			t.Fatalf("openssl produced %s", got)
		}
	})
}

func TestChecksumV3Refuses(t *testing.T) {
	priv, pub, _ := testKeys(t)
	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"", "xyz", "abc"} {
		if _, err := EncryptChecksumV3(priv, in); !errors.Is(err, ErrChecksum) {
			t.Errorf("EncryptChecksumV3(%q) err = %v, want ErrChecksum", in, err)
		}
	}
	for name, in := range map[string]string{
		"not hex":     strings.Replace(goldenV3, "7e", "zz", 1),
		"short":       goldenV3[:510],
		"v2 base64":   "fsqCmviRXinL4y8oZoXjAtSHOzTVNFxBwDerFnrXfnw=",
		"flipped bit": "7fca" + goldenV3[4:],
	} {
		if _, err := DecryptChecksumV3(pub, in); !errors.Is(err, ErrChecksum) {
			t.Errorf("%s: err = %v, want ErrChecksum", name, err)
		}
	}
	if _, err := DecryptChecksumV3(&other.PublicKey, goldenV3); !errors.Is(err, ErrChecksum) {
		t.Errorf("wrong key: err = %v, want ErrChecksum", err)
	}
}

func FuzzDecryptChecksumV3(f *testing.F) {
	_, pub, _ := testKeys(f)
	f.Add(goldenV3)
	f.Add(strings.Repeat("00", 256))
	f.Add(strings.Repeat("ff", 256))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := DecryptChecksumV3(pub, s)
		if err != nil {
			if !errors.Is(err, ErrChecksum) {
				t.Fatalf("error %v is not ErrChecksum", err)
			}
			return
		}
		raw, herr := hex.DecodeString(s)
		if herr != nil || len(raw) != 256 || got == "" || !bytes.Equal([]byte(got), []byte(strings.ToLower(got))) {
			t.Fatalf("accepted %q as %q", s, got)
		}
	})
}
