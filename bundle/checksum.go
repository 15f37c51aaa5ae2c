// Encrypted checksums (reference §6.1 step 6): with encryption on, the
// checksum sent to devices is RSA-"signed" so a server or CDN cannot swap the
// bundle. V3 is the format every current plugin (≥ 5.30/6.30/7.30, all 8.x)
// reads.

package bundle

import (
	"crypto/rsa"
	"encoding/hex"
	"fmt"
)

// EncryptChecksumV3 returns the lowercase hex of the RSA private-encrypt
// (PKCS#1 v1.5 type 1) of the raw digest bytes of checksumHex: 32 bytes in
// for SHA-256, 512 hex characters out. Like the CLI's encryptChecksumV3 it
// is deterministic, so it can be recomputed and compared.
func EncryptChecksumV3(priv *rsa.PrivateKey, checksumHex string) (string, error) {
	raw, err := hex.DecodeString(checksumHex)
	if err != nil || len(raw) == 0 {
		return "", fmt.Errorf("%w: %q is not a hex digest", ErrChecksum, checksumHex)
	}
	if err := checkKey(&priv.PublicKey); err != nil {
		return "", err
	}
	enc, err := privateEncrypt(priv, raw)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrChecksum, err)
	}
	return hex.EncodeToString(enc), nil
}

// DecryptChecksumV3 recovers the plain lowercase hex checksum from its V3
// form, as the plugin does before comparing it with the SHA-256 of the
// downloaded zip.
func DecryptChecksumV3(pub *rsa.PublicKey, enc string) (string, error) {
	raw, err := hex.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("%w: the encrypted checksum is not hex", ErrChecksum)
	}
	if err := checkKey(pub); err != nil {
		return "", err
	}
	plain, err := publicRecover(pub, raw)
	if err != nil || len(plain) == 0 {
		return "", fmt.Errorf("%w: it was not made with the private key matching this public key (%d bytes given, 256 expected)", ErrChecksum, len(raw))
	}
	return hex.EncodeToString(plain), nil
}
