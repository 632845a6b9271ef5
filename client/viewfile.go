package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/sys/unix"

	"pouch.dev/internal/atomicfile"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// viewFile is a View as kept on disk: local state, written atomically,
// read back only by the client that wrote it. The checkpoint is verified
// again when it is read (its log signature), and the records replayed
// through the rules.
type viewFile struct {
	V        uint64            `cbor:"v"`
	Origin   string            `cbor:"origin"`
	LogKey   string            `cbor:"log_key"`
	Note     []byte            `cbor:"checkpoint"`
	Range    [][]byte          `cbor:"range"` // the compact range of leaves [0, size)
	LastTime int64             `cbor:"last_time"`
	Records  []provenRecord    `cbor:"records"`
	Opaque   []opaqueLeaf      `cbor:"opaque"`
	AsOf     map[string]uint64 `cbor:"as_of"`
}

const viewFileVersion = 1

// viewCBOR decodes view files: strict, but sized for a log's whole
// directory.
var viewCBOR = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxArrayElements:  1 << 26,
		MaxMapPairs:       1 << 20,
		MaxNestedLevels:   8,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// loadView reads the View kept at path for log (origin, key); a View of
// an empty log if there is none. Its records are not replayed yet: the
// caller calls rebuild or rebuildAsync.
func loadView(path, origin, key string, v *tlog.Verifier) (*View, error) {
	vw := newView(origin, key, v)
	if path == "" {
		return vw, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return vw, nil
	}
	if err != nil {
		return nil, err
	}
	var f viewFile
	if err := viewCBOR.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("the client's state %s: %w (remove it to start afresh)", path, err)
	}
	if f.V != viewFileVersion || f.Origin != origin || f.LogKey != key {
		return nil, fmt.Errorf("the client's state %s is for another log or version (remove it to start afresh)", path)
	}
	// The quorum and freshness were checked when the checkpoint was
	// accepted, and the next sync checks the server's newest; but its
	// cosignatures bound the times of the leaves that follow it
	// (checkTimes), so they are read again. Under a policy that has
	// changed since, the log's signature alone: the next leaves' times are
	// then bounded from above only.
	cp, err := v.Open(f.Note)
	if err != nil {
		lv := &tlog.Verifier{Origin: v.Origin, Log: v.Log}
		if cp, err = lv.Open(f.Note); err != nil {
			return nil, fmt.Errorf("the checkpoint kept in %s: %w", path, err)
		}
	}
	rng, err := rangeFactory.NewRange(0, cp.Size, f.Range)
	if err != nil {
		return nil, fmt.Errorf("the tree kept in %s: %w", path, err)
	}
	if string(rootOf(rng)) != string(cp.Hash) {
		return nil, fmt.Errorf("the tree kept in %s does not hash to its checkpoint's root (remove it to start afresh)", path)
	}
	vw.note, vw.cp, vw.rng, vw.lastTime = f.Note, cp, rng, f.LastTime
	vw.records, vw.opaque = f.Records, f.Opaque
	for h, n := range f.AsOf {
		vw.asOf[record.Handle(h)] = n
	}
	return vw, nil
}

// rebuildAsync replays v's records into its directory and agreements (as
// rebuild) on another goroutine, so that the replay, the most a warm
// command spends of its own, runs while the sync waits on the server. The
// function returned waits for it and returns its error; until then only
// what the sync reads of v before it adds records may be read (the
// checkpoint, the tree, the records themselves).
func (v *View) rebuildAsync(path string) func() error {
	done := make(chan error, 1)
	go func() {
		err := v.rebuild()
		if err != nil {
			err = fmt.Errorf("the records kept in %s: %w", path, err)
		}
		done <- err
	}()
	return sync.OnceValue(func() error { return <-done })
}

// save writes v at path atomically.
func (v *View) save(path string) error {
	if path == "" {
		return nil
	}
	f := viewFile{V: viewFileVersion, Origin: v.Origin, LogKey: v.LogKey, Note: v.note, Range: v.rng.Hashes(),
		LastTime: v.lastTime, Records: v.records, Opaque: v.opaque, AsOf: map[string]uint64{}}
	for h, n := range v.asOf {
		f.AsOf[string(h)] = n
	}
	b, err := record.Marshal(&f)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o600)
}

// lockView takes an exclusive lock on the View kept at path, so that two
// commands catching up on one log do not interleave; it returns the
// unlock.
func lockView(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}
