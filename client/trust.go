package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"pouch.dev/api"
	"pouch.dev/internal/atomicfile"
	"pouch.dev/tlog"
)

// Trust says what a verifying client anchors on: the log's key, the
// witnesses and the quorum a checkpoint must carry, and where it keeps
// what it has verified.
//
// SPEC: spec/api.md#verifying-client
type Trust struct {
	// Policy, if set, names the log's key and the witnesses and quorum
	// (C2SP tlog-policy). A checkpoint without its quorum, or whose
	// quorum's cosignatures are older than MaxAge, is refused.
	Policy *tlog.Policy
	// LogKey, if set, is the log's verifier key (origin+hash+key). With
	// neither LogKey nor a policy, the client pins the key the server
	// shows on first use (in Dir), tells OnPin, and holds the server to
	// it afterwards.
	LogKey string
	// MaxAge bounds the age of a checkpoint's quorum cosignatures; 0
	// means tlog.DefaultMaxAge. Without witnesses nothing proves a
	// checkpoint's freshness.
	MaxAge time.Duration
	// MaxSkew is the clock difference allowed between the log and its
	// witnesses when leaf times are checked against cosignature times; 0
	// means DefaultMaxSkew.
	MaxSkew time.Duration
	// Dir keeps each log's View and pinned key ($POUCH_HOME/logs); ""
	// keeps them in memory, for this process only.
	Dir string
	// OnPin, if set, is told when a log key is pinned on first use.
	OnPin func(origin, key string)
}

// DefaultMaxSkew is the clock difference allowed between a log and its
// witnesses.
const DefaultMaxSkew = 2 * time.Minute

// ErrKeyChanged is returned when the server shows another log key for an
// origin than the one pinned or given.
var ErrKeyChanged = errors.New("the log's key is not the one this client holds for it")

// anchor returns the log's origin, the key to verify its checkpoints with,
// and the verifier its policy asks for. The server's answer to GET /v1/log
// only names the log; the key comes from the policy, from LogKey, or from
// the pin (taking the server's word only the first time, and saying so).
func (c *Client) anchor(ctx context.Context) (origin, key string, v *tlog.Verifier, err error) {
	var info api.LogInfo
	if err := c.do(ctx, "GET", "/v1/log", nil, "", nil, &info); err != nil {
		return "", "", nil, fmt.Errorf("asking the server which log it serves: %w", err)
	}
	if info.Origin == "" || !strings.HasPrefix(info.Key, info.Origin+"+") {
		return "", "", nil, fmt.Errorf("%w: GET /v1/log names origin %q and key %q", ErrMismatch, info.Origin, info.Key)
	}
	t := c.Trust
	origin = info.Origin
	switch {
	case t.Policy != nil:
		for _, l := range t.Policy.Logs {
			if l.Origin == origin {
				key = l.Key
			}
		}
		if key == "" {
			return "", "", nil, fmt.Errorf("the witness policy names no log with origin %s, the log this server serves: check --policy (POUCH_POLICY) and --server", origin)
		}
	case t.LogKey != "":
		if name, _, _ := strings.Cut(t.LogKey, "+"); name != origin {
			return "", "", nil, fmt.Errorf("%w: the log key given is for %s, the server serves %s", ErrKeyChanged, name, origin)
		}
		key = t.LogKey
	default:
		if key, err = t.pinned(origin, info.Key); err != nil {
			return "", "", nil, err
		}
	}
	if key != info.Key {
		return "", "", nil, fmt.Errorf("%w: the server signs %s with %s, the client holds %s", ErrKeyChanged, origin, info.Key, key)
	}
	if t.Policy != nil {
		v, err = t.Policy.Verifier(key)
	} else {
		v, err = tlog.NewVerifier(key, nil, 0)
	}
	if err == nil {
		c.anchored.Store(&origin)
	}
	return origin, key, v, err
}

// pinned returns the key pinned for origin, pinning shown if there is
// none yet.
func (t *Trust) pinned(origin, shown string) (string, error) {
	if t.Dir == "" {
		if t.OnPin != nil {
			t.OnPin(origin, shown)
		}
		return shown, nil
	}
	path := filepath.Join(t.Dir, url.PathEscape(origin), "key")
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(path, []byte(shown+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("pinning the log key: %w", err)
	}
	if t.OnPin != nil {
		t.OnPin(origin, shown)
	}
	return shown, nil
}

func (t *Trust) maxAge() time.Duration {
	if t.MaxAge > 0 {
		return t.MaxAge
	}
	return tlog.DefaultMaxAge
}

func (t *Trust) maxSkew() time.Duration {
	if t.MaxSkew > 0 {
		return t.MaxSkew
	}
	return DefaultMaxSkew
}

// viewPath returns where the View of log (origin, key) is kept: one file
// per origin and key, never per origin alone.
func (t *Trust) viewPath(origin, key string) string {
	if t.Dir == "" {
		return ""
	}
	parts := strings.Split(key, "+")
	return filepath.Join(t.Dir, url.PathEscape(origin), parts[1]+".view")
}
