package directory_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"filippo.io/age"

	"pouch.dev/directory"
	"pouch.dev/record"
)

// The directory of scene 1, replayed record by record in log order: house
// ru, its President and the chairman of the Duma, and the President's
// grant of receive to the chairman for letters from the Leader. Whom a
// letter must be sealed to, and who may sign its delivery, follow from it.
func Example() {
	d := directory.New(directory.Config{Mode: directory.ModeOpen})
	now := time.Date(2021, 2, 8, 12, 0, 0, 0, time.UTC)
	index := uint64(0)
	apply := func(kind record.Kind, by record.Handle, key ed25519.PrivateKey, body any) {
		s, err := record.Sign(&record.Record{Kind: kind, By: []record.Handle{by}, Time: now.UnixMilli()}, body, key)
		if err != nil {
			panic(err)
		}
		_, r, err := record.Verify(s.Marshal())
		if err != nil {
			panic(err)
		}
		if err := d.Apply(s, r, directory.Pos{Index: index, Time: now}); err != nil {
			panic(err)
		}
		index++
	}
	_, registrar, _ := ed25519.GenerateKey(nil)
	apply(record.KindHouse, directory.Registrar("ru"), registrar,
		&directory.House{House: "ru", Registrar: registrar.Public().(ed25519.PublicKey)})
	offices := map[record.Handle]ed25519.PrivateKey{}
	for _, h := range []record.Handle{"ru/president", "ru/duma-chair"} {
		_, key, _ := ed25519.GenerateKey(nil)
		id, _ := age.GenerateHybridIdentity()
		offices[h] = key
		apply(record.KindAdmit, directory.Registrar("ru"), registrar,
			&directory.Admit{Handle: h, Key: key.Public().(ed25519.PublicKey), Recipient: id.Recipient().String()})
	}
	apply(record.KindGrant, "ru/president", offices["ru/president"], &directory.Grant{To: "ru/duma-chair",
		Abilities: []directory.Ability{directory.Receive}, Counterparts: []record.Handle{"ir/leader"}})

	at := directory.Pos{Index: index, Time: now}
	readers, err := d.SealTo("ru/president", "ir/leader", nil, at)
	if err != nil {
		panic(err)
	}
	for _, r := range readers {
		fmt.Printf("a letter from ir/leader is sealed to %s (%s)\n", r.Handle, r.Role)
	}
	if _, err := d.MayReceive("ru/duma-chair", "ru/president", "ir/leader", nil, at); err == nil {
		fmt.Println("ru/duma-chair may sign its delivery on behalf of ru/president")
	}
	if _, err := d.MayReceive("ru/duma-chair", "ru/president", "us/president", nil, at); errors.Is(err, directory.ErrGrantScope) {
		fmt.Println("not a letter from us/president: the grant covers only letters from ir/leader")
	}
	// Output:
	// a letter from ir/leader is sealed to ru/president (addressee)
	// a letter from ir/leader is sealed to ru/duma-chair (delegate)
	// ru/duma-chair may sign its delivery on behalf of ru/president
	// not a letter from us/president: the grant covers only letters from ir/leader
}
