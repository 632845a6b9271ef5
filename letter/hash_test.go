package letter

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
)

// The streamHasher gives SHA-256 whatever the sizes of the pieces and
// whether it hashes inline or on its own goroutine.
func TestStreamHasher(t *testing.T) {
	data := make([]byte, 3*hashBufs*hashBufSize+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, n := range []int{0, 1, asyncAfter, asyncAfter + 1, len(data)} {
		for _, piece := range []int{1000, 8 << 10, 64<<10 + 16, hashBufSize, 3 * hashBufSize} {
			if n > 2*asyncAfter && piece == 1000 {
				continue
			}
			want := sha256.Sum256(data[:n])
			s := newStreamHasher()
			for p := data[:n]; len(p) > 0; {
				k := min(piece, len(p))
				s.add(p[:k])
				p = p[k:]
			}
			if got, size := s.sum(); got != want || size != uint64(n) {
				t.Errorf("add: %d bytes in pieces of %d: wrong digest or size %d", n, piece, size)
			}
		}
		want := sha256.Sum256(data[:n])
		s := newStreamHasher()
		if m, err := s.readFrom(io.NewSectionReader(bytes.NewReader(data), 0, int64(n)), int64(n), make([]byte, 1000)); err != nil || m != int64(n) {
			t.Fatalf("readFrom: %d, %v", m, err)
		}
		if got, size := s.sum(); got != want || size != uint64(n) {
			t.Errorf("readFrom: %d bytes: wrong digest or size %d", n, size)
		}
		s = newStreamHasher()
		var out bytes.Buffer
		if m, err := s.copyTo(&out, bytes.NewReader(data[:n])); err != nil || m != int64(n) || !bytes.Equal(out.Bytes(), data[:n]) {
			t.Fatalf("copyTo: %d, %v", m, err)
		}
		if got, size := s.sum(); got != want || size != uint64(n) {
			t.Errorf("copyTo: %d bytes: wrong digest or size %d", n, size)
		}
	}
}

var errDiskFull = errors.New("disk full")

// failAfter is a writer that fails once n bytes were written.
type failAfter int

func (f *failAfter) Write(p []byte) (int, error) {
	if int(*f) < len(p) {
		return 0, errDiskFull
	}
	*f -= failAfter(len(p))
	return len(p), nil
}

// changing is an attachment whose content changes once it has been read
// through once, as a file rewritten while it is sealed.
type changing struct {
	data  []byte
	reads int64
}

func (c *changing) ReadAt(p []byte, off int64) (int, error) {
	c.reads += int64(len(p))
	n, err := bytes.NewReader(c.data).ReadAt(p, off)
	if c.reads > int64(len(c.data)) {
		for i := range p[:n] {
			p[i] ^= 1
		}
	}
	return n, err
}

// Attachments larger than asyncAfter are hashed on their own goroutines,
// on sealing and on opening; the result is the same, and a difference
// is caught before anything is returned.
func TestLargeAttachments(t *testing.T) {
	big := make([]byte, 5*asyncAfter/2+77)
	for i := range big {
		big[i] = byte(i * 13)
	}
	small := []byte("annex")
	s, file := sealTo(t, "ir/leader", "ru/president", nil, nil,
		Attachment{Name: "big.bin", Size: int64(len(big)), Content: bytes.NewReader(big)},
		Attachment{Name: "small.txt", Size: int64(len(small)), Content: bytes.NewReader(small)})
	if want := sha256.Sum256(big); !bytes.Equal(s.Header.Header.Attachments[0].SHA256, want[:]) {
		t.Fatal("wrong commitment to the big attachment")
	}
	f, err := ReadFile(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := io.ReadAll(f.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Finish(); err != nil {
		t.Fatal(err)
	}
	if PayloadDigest(payload) != s.Tag.Tag.Payload {
		t.Fatal("the tag's digest is not the payload's SHA-256")
	}

	o, err := openFile(file, who(t, "ru/president"))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Attachments) != 2 || !bytes.Equal(o.Attachments[0].Data, big) || !bytes.Equal(o.Attachments[1].Data, small) {
		t.Fatal("attachments differ")
	}
	// Saved with io.Copy (through attachmentReader.WriteTo) and with
	// io.ReadAll (through Read).
	for _, copied := range []bool{true, false} {
		f, err = ReadFile(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		var saved [][]byte
		_, err = OpenPouch(f, who(t, "ru/president"), func(ref AttachmentRef, r io.Reader) error {
			var b bytes.Buffer
			var err error
			if copied {
				_, err = io.Copy(&b, r)
			} else {
				var p []byte
				p, err = io.ReadAll(r)
				b.Write(p)
			}
			saved = append(saved, b.Bytes())
			return err
		})
		if err != nil || len(saved) != 2 || !bytes.Equal(saved[0], big) || !bytes.Equal(saved[1], small) {
			t.Fatalf("saving (io.Copy %v): %v", copied, err)
		}
	}
	// A save that fails after reading part of the attachment.
	f, err = ReadFile(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenPouch(f, who(t, "ru/president"), func(ref AttachmentRef, r io.Reader) error {
		w := failAfter(asyncAfter + 100)
		_, err := io.Copy(&w, r)
		return err
	})
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("failed save: %v", err)
	}

	// A file changed between its hashing and its encryption: the payload
	// matches the tag, the attachment does not match the header.
	ch := &changing{data: big}
	_, file = sealTo(t, "ir/leader", "ru/president", nil, nil,
		Attachment{Name: "big.bin", Size: int64(len(big)), Content: ch})
	if _, err := openFile(file, who(t, "ru/president")); !errors.Is(err, ErrAttachment) {
		t.Fatalf("changed attachment: %v", err)
	}

	// A changed byte deep in the payload is caught, and nothing is returned.
	_, file = sealTo(t, "ir/leader", "ru/president", nil, nil,
		Attachment{Name: "big.bin", Size: int64(len(big)), Content: bytes.NewReader(big)})
	file[len(file)-asyncAfter] ^= 1
	if o, err := openFile(file, who(t, "ru/president")); !errors.Is(err, ErrPayload) || o != nil {
		t.Fatalf("changed payload byte: %v", err)
	}
}
