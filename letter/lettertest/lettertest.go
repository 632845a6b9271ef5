// Package lettertest makes pouches that a correct sealer never writes, for
// the tests of the code that must refuse them: the letter package, the
// server and the CLI.
package lettertest

import (
	"bytes"
	"crypto"
	"fmt"
	"io"

	"filippo.io/age"

	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// A Resealed pouch: the .pouch file, and its tag and payload as a client
// submits them.
type Resealed struct {
	File    []byte
	Tag     *record.Signed
	Payload []byte
}

// unlabelled hides a recipient's labels from age, which otherwise refuses
// to mix a hybrid post-quantum recipient with a classical one: that is
// the downgrade a test needs to make.
type unlabelled struct{ r age.Recipient }

func (u unlabelled) Wrap(fileKey []byte) ([]*age.Stanza, error) { return u.r.Wrap(fileKey) }

// Reseal decrypts the payload of the .pouch file b as me and seals the
// same plaintext again to recipients, in any mix (a hybrid and a classical
// X25519 recipient, say), under a new tag for the new payload signed with
// sender, the key of the tag's sender. The letter inside, its signed
// header and its sections, is unchanged, so the pouch is valid in every
// way but its recipients. Custody records are dropped.
func Reseal(b []byte, me *keys.Principal, sender crypto.Signer, recipients ...age.Recipient) (*Resealed, error) {
	f, err := letter.ReadFile(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ar, err := age.Decrypt(f.Payload, me.Sealing)
	if err != nil {
		return nil, fmt.Errorf("lettertest: decrypting as %s: %w", me.Handle, err)
	}
	plain, err := io.ReadAll(ar)
	if err != nil {
		return nil, err
	}
	if err := f.Finish(); err != nil {
		return nil, err
	}
	rs := make([]age.Recipient, len(recipients))
	for i, r := range recipients {
		rs[i] = unlabelled{r}
	}
	var payload bytes.Buffer
	aw, err := age.Encrypt(&payload, rs...)
	if err != nil {
		return nil, err
	}
	if _, err := aw.Write(plain); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	tag := *f.Tag.Tag
	tag.Payload = letter.PayloadDigest(payload.Bytes())
	tag.Size = uint64(payload.Len())
	st, err := letter.SignTag(&tag, sender, record.NewSalt(), f.Tag.Record.Time, f.Tag.Record.Origin)
	if err != nil {
		return nil, err
	}
	var file bytes.Buffer
	if err := letter.WriteFile(&file, &letter.FileHead{Tag: st.Marshal()}, bytes.NewReader(payload.Bytes()), tag.Size); err != nil {
		return nil, err
	}
	return &Resealed{File: file.Bytes(), Tag: st, Payload: payload.Bytes()}, nil
}
