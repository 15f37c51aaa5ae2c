// The "backwards" RSA Capgo uses (reference §6.1): the CLI private-encrypts
// with PKCS#1 v1.5 block type 1 and apps public-decrypt. That is a raw
// signature without DigestInfo, which crypto/rsa can produce but not undo,
// so recovery is done here with math/big.

package bundle

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"math/big"
)

// errUnpad is internal; callers wrap their own sentinel around it.
var errUnpad = errors.New("bundle: not a PKCS#1 v1.5 type-1 block for this key")

// privateEncrypt is Node's privateEncrypt with RSA_PKCS1_PADDING:
// EM = 00 01 FF…FF 00 ‖ data, raised to d. With a zero hash,
// SignPKCS1v15 pads data verbatim, which is exactly that; the padding is
// deterministic, so the same key and data always give the same bytes.
func privateEncrypt(priv *rsa.PrivateKey, data []byte) ([]byte, error) {
	return rsa.SignPKCS1v15(nil, priv, crypto.Hash(0), data)
}

// publicRecover is Node's publicDecrypt with RSA_PKCS1_PADDING: it raises
// c to e and strictly checks the type-1 block (at least 8 FF bytes, as
// RFC 8017 requires), returning the data after the 00 separator.
func publicRecover(pub *rsa.PublicKey, c []byte) ([]byte, error) {
	if checkKey(pub) != nil {
		return nil, errUnpad
	}
	k := (pub.N.BitLen() + 7) / 8
	if len(c) != k {
		return nil, errUnpad
	}
	ci := new(big.Int).SetBytes(c)
	if ci.Cmp(pub.N) >= 0 {
		return nil, errUnpad
	}
	em := new(big.Int).Exp(ci, big.NewInt(int64(pub.E)), pub.N).FillBytes(make([]byte, k))
	if em[0] != 0 || em[1] != 1 {
		return nil, errUnpad
	}
	i := 2
	for i < k && em[i] == 0xff {
		i++
	}
	if i == k || em[i] != 0 || i-2 < 8 {
		return nil, errUnpad
	}
	return em[i+1:], nil
}
