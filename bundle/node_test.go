// Interoperability with the real CLI's primitives: when node is installed,
// run the exact Node calls @capgo/cli makes (cli/src/api/crypto.ts,
// createBrotliCompress, PEM export) and check both directions against this
// package. Skipped without node; the golden vectors elsewhere still run.

package bundle

import (
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nodeScript mirrors generateSessionKey, encryptSource, decryptSource,
// encryptChecksumV3 and decryptChecksumV3 from cli/src/api/crypto.ts.
const nodeScript = `
const c = require('crypto'), fs = require('fs'), z = require('zlib');
const { buffer } = require('stream/consumers');
const d = process.argv[1], pad = c.constants.RSA_PKCS1_PADDING;
const priv = fs.readFileSync(d + '/priv', 'utf8'), pub = fs.readFileSync(d + '/pub', 'utf8');
const plain = fs.readFileSync(d + '/plain'), goEnc = fs.readFileSync(d + '/go.enc');
const goSK = fs.readFileSync(d + '/go.sk', 'utf8'), goCS = fs.readFileSync(d + '/go.cs', 'utf8');
(async () => {
  const iv = c.randomBytes(16), key = c.randomBytes(16);
  const sk = iv.toString('base64') + ':' + c.privateEncrypt({ key: priv, padding: pad }, key).toString('base64');
  const ci = c.createCipheriv('aes-128-cbc', key, iv);
  const enc = Buffer.concat([ci.update(plain), ci.final()]);
  const [ivB64, keyB64] = goSK.split(':');
  const goKey = c.publicDecrypt({ key: pub, padding: pad }, Buffer.from(keyB64, 'base64'));
  const de = c.createDecipheriv('aes-128-cbc', goKey, Buffer.from(ivB64, 'base64'));
  const goPlain = Buffer.concat([de.update(goEnc), de.final()]);
  const br = await buffer(fs.createReadStream(d + '/plain').pipe(z.createBrotliCompress({})));
  console.log(JSON.stringify({
    sk, enc: enc.toString('hex'),
    v3: c.privateEncrypt({ key: priv, padding: pad }, Buffer.from(goldenChecksum, 'hex')).toString('hex'),
    goPlain: goPlain.toString('hex'),
    goCS: c.publicDecrypt({ key: pub, padding: pad }, Buffer.from(goCS, 'hex')).toString('hex'),
    br: br.toString('hex'),
    pem: c.createPublicKey(priv).export({ type: 'pkcs1', format: 'pem' }),
  }));
})();
`

type nodeResult struct {
	SK, Enc, V3, GoPlain, GoCS, Br, PEM string
}

func TestNodeInterop(t *testing.T) {
	bin := needTool(t, "node")
	priv, pub, pubPEM := testKeys(t)
	plain := []byte(bigJS(7))
	enc, goSK, goCS, err := EncryptZip(priv, plain)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	privPEM, err := os.ReadFile(filepath.Join("testdata", "test_key_v2"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"priv": privPEM, "pub": []byte(pubPEM), "plain": plain,
		"go.enc": enc, "go.sk": []byte(goSK), "go.cs": []byte(goCS)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	script := "const goldenChecksum = '" + goldenChecksum + "';" + nodeScript
	out, err := exec.Command(bin, "-e", script, dir).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var r nodeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	checkNodeToGo(t, pub, plain, r)
	if r.GoPlain != hex.EncodeToString(plain) {
		t.Error("Node could not decrypt a Go-encrypted bundle with its session_key")
	}
	if r.GoCS != SHA256Hex(plain) {
		t.Errorf("Node recovered checksum %s from the Go V3 checksum", r.GoCS)
	}
	if r.V3 != goldenV3 {
		t.Error("Node's encryptChecksumV3 differs from the golden vector")
	}
	if r.PEM != PublicKeyPEM(pub) {
		t.Errorf("Node exports\n%s\nPublicKeyPEM gives\n%s", r.PEM, PublicKeyPEM(pub))
	}
	br, ok, err := brotliIfSmaller(plain)
	if err != nil || !ok || hex.EncodeToString(br) != r.Br {
		t.Errorf("brotli output differs from Node createBrotliCompress (%d vs %d hex chars, %v)", 2*len(br), len(r.Br), err)
	}
}

// checkNodeToGo opens what Node's CLI code produced.
func checkNodeToGo(t *testing.T, pub *rsa.PublicKey, plain []byte, r nodeResult) {
	t.Helper()
	s, err := OpenSessionKey(pub, r.SK)
	if err != nil {
		t.Fatalf("OpenSessionKey(Node session_key): %v", err)
	}
	ct, err := hex.DecodeString(r.Enc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Decrypt(ct)
	if err != nil || string(got) != string(plain) {
		t.Fatalf("Decrypt(Node ciphertext): %v", err)
	}
}
