package line_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"

	"pouch.dev/line"
	"pouch.dev/record"
)

// Scene 3 of the reference scenario: Iran's Foreign Minister and the
// President of Russia speak on a secure line through the server's relay,
// and both sign the call record.
func Example() {
	fmPub, fmKey, _ := ed25519.GenerateKey(nil)
	prPub, prKey, _ := ed25519.GenerateKey(nil)
	dir := &line.MapDirectory{Keys: map[record.Handle]ed25519.PublicKey{"ir/fm": fmPub, "ru/president": prPub}}
	const origin = "pouch.example/log"

	relay := line.NewRelay(dir, origin)
	relay.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(relay) // the server mounts it at /v1/line
	defer srv.Close()

	ctx := context.Background()
	fmLine := make(chan *line.Line)
	go func() {
		l, err := line.Dial(ctx, srv.URL, "ru/president", line.Config{Self: "ir/fm", Key: fmKey, Directory: dir, Origin: origin})
		if err != nil {
			panic(err)
		}
		fmLine <- l
	}()
	president, err := line.Dial(ctx, srv.URL, "ir/fm", line.Config{Self: "ru/president", Key: prKey, Directory: dir, Origin: origin})
	if err != nil {
		panic(err)
	}
	fm := <-fmLine

	fm.Send("Mr President, I carry a message from President Rouhani.")
	m, _ := president.Receive(ctx)
	fmt.Printf("%s: %s\n", m.From, m.Text)

	fm.CloseSend() // the minister says bye
	if _, err := president.Receive(ctx); err == io.EOF {
		fmt.Println("ir/fm hung up")
	}
	rec, _ := president.Hangup(ctx)
	fmRec, _ := fm.Hangup(ctx)

	call, err := line.VerifyCall(rec.Marshal())
	if err != nil {
		panic(err)
	}
	fmt.Println("signed by", call.Record.By, "private:", call.Record.Private())
	fmt.Println("both ends hold the same record:", rec.ID() == fmRec.ID())
	fmt.Println("bound to this session:", call.CheckBinding(president.Binding()) == nil)
	// Output:
	// ir/fm: Mr President, I carry a message from President Rouhani.
	// ir/fm hung up
	// signed by [ir/fm ru/president] private: true
	// both ends hold the same record: true
	// bound to this session: true
}
