package client_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/record"
	"pouch.dev/server"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
)

// A verifying client anchors on the log's key (or a witness policy), and
// answers from what it proved: here house ru is founded and its President
// admitted on a server started in this process, and the client's View of
// the log holds the President's key, proven, not as the server says.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "pouch-client-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "pouch.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	const origin = "pouch.example/log"
	skey, vkey, _ := tlog.GenerateKey(origin)
	node, err := server.Start(ctx, server.Options{Store: st, Origin: origin, Key: skey, Directory: directory.Config{Mode: directory.ModeOpen}})
	if err != nil {
		panic(err)
	}
	defer node.Close()
	hs := httptest.NewServer(node.Server)
	defer hs.Close()

	c := client.New(hs.URL)
	c.Origin = origin
	c.Trust = &client.Trust{LogKey: vkey} // the key the operator gave out: no witness here
	_, rk, _ := ed25519.GenerateKey(nil)
	registrar := client.Registrar("ru", rk)
	if _, err := c.FoundHouse(ctx, "ru", "Russian Federation", registrar, nil); err != nil {
		panic(err)
	}
	president, err := keys.Generate("ru/president")
	if err != nil {
		panic(err)
	}
	a, err := c.Admit(ctx, registrar, "ru/president", president.SigningPublic(), president.Recipient().String(), "Vladimir Putin")
	if err != nil {
		panic(err)
	}
	// The admission is in the log once a checkpoint covers it.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, _, err := node.Log.WaitCheckpoint(wctx, a.Index+1); err != nil {
		panic(err)
	}

	v, err := c.View(ctx, nil)
	if err != nil {
		panic(err)
	}
	k, err := v.Directory().KeyAt(record.Handle("ru/president"), v.Size())
	if err != nil {
		panic(err)
	}
	fmt.Println("records proven:", v.Size())
	fmt.Println("the President's key is the one admitted:", k.Key.Equal(president.SigningPublic()))
	fmt.Println(v.Witnessing(time.Now()))
	// Output:
	// records proven: 3
	// the President's key is the one admitted: true
	// no witness was required (split views undetectable)
}
