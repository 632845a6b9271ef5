package keys_test

import (
	"fmt"
	"os"

	"pouch.dev/keys"
)

// A home with one principal: create it, store it encrypted, load it back.
func ExampleHome() {
	dir, _ := os.MkdirTemp("", "pouch-home-")
	defer os.RemoveAll(dir)
	home := &keys.Home{Dir: dir, ScryptLogN: 10} // a low work factor: this is an example

	p, err := keys.Generate("ir/speaker")
	if err != nil {
		panic(err)
	}
	if err := home.Save(p, "correct horse battery staple"); err != nil {
		panic(err)
	}
	who, _ := home.Pick("") // the only principal: --as may be omitted
	q, err := home.Load(who, "correct horse battery staple")
	if err != nil {
		panic(err)
	}
	fmt.Println(q.Handle, q.Public().Equal(p.Public()))
	// Output:
	// ir/speaker true
}
