package server

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/tlog"
)

// Options configure a whole pouch server: what Start assembles.
type Options struct {
	// Store holds the records, payloads and the tree. Required; Start
	// does not close it.
	Store store.Store
	// Origin and Key are the log's origin and its signed-note private key
	// (tlog.GenerateKey, tlog.LoadOrCreateKey). Required.
	Origin string
	Key    string
	// Witnesses are asked to cosign every checkpoint; RefreshInterval is
	// how often an idle log has its checkpoint cosigned again
	// (tlog.Config).
	Witnesses       []tlog.WitnessConfig
	RefreshInterval time.Duration
	// Directory is the founding rule, and OperatorKey the key that signs
	// the genesis record of an empty store (CorrOptions).
	Directory   directory.Config
	OperatorKey ed25519.PrivateKey
	// Evidence holds the keys of the deployment's evidence office, which
	// signs the non-delivery of a pouch past its deadline (CorrOptions).
	Evidence *keys.Principal
	// MaxAttachments is the most bytes a letter's attachments may hold
	// together (CorrOptions); 0 means record.MaxAttachmentsSize.
	MaxAttachments int64
	// Logger receives the server's and the sequencer's logs; nil discards
	// them.
	Logger *slog.Logger
	// Metrics, if set, receives the API's metrics and is served at
	// GET /metrics.
	Metrics *prometheus.Registry
	// Now is the API's clock; nil means time.Now. Tests move it.
	Now func() time.Time
	// Rate and Burst limit requests per principal; Rate 0 means no limit.
	Rate  float64
	Burst int
	// LineTap and OnLineClose watch the line relay (CorrOptions).
	LineTap     func(from, to record.Handle, p []byte)
	OnLineClose func(line.Session)
	// Limits are the budgets requests take from; nil means
	// NewLimits(Metrics).
	Limits *Limits
	// ProofWait bounds how long a proof request with ?wait=1 waits; 0
	// means 10 seconds.
	ProofWait time.Duration
	// WatchDeadlines runs the deadline watcher (Correspondence.Watch)
	// beside the sequencer, so that a pouch past its deadline undelivered
	// gets its non-delivery record: one per deployment, in the process
	// that sequences the log. Tests that sweep by hand leave it unset.
	WatchDeadlines bool
	// Advertise is the base URL (http://host:port) at which the other
	// replicas reach this one when the store is shared by several
	// (store.Replicas, such as PostgreSQL's): Start registers it, and
	// keeps it alive, so that a secure line whose two ends reach
	// different replicas meets at one.
	Advertise string
}

// A Node is a running pouch server: the log over its store, sequenced and
// cosigned; the correspondence API; and every route, the log's at the
// C2SP tlog-tiles paths and the API's under /v1. Its Server is the HTTP
// handler to serve; more routes (the explorer) are added with
// Server.Handle.
type Node struct {
	*Server
	Log *tlog.Log
	API *Correspondence

	stop context.CancelFunc
	done chan struct{}
}

// Start assembles a pouch server from opt and starts its sequencer, which
// runs until Close. It is the one place where a server is put together:
// pouch serve, the reference scenario's in-process server, the hostile
// server of the tests and the tests of this package all start theirs
// here.
func Start(ctx context.Context, opt Options) (*Node, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	// The deadline watcher runs where the log is sequenced: one replica
	// at a time.
	var api *Correspondence
	var whileLeading func(context.Context)
	if opt.WatchDeadlines {
		whileLeading = func(ctx context.Context) { api.Watch(ctx, 0) }
	}
	lg, err := tlog.New(ctx, opt.Store, tlog.Config{Origin: opt.Origin, Key: opt.Key, Witnesses: opt.Witnesses,
		RefreshInterval: opt.RefreshInterval, Logger: opt.Logger, WhileLeading: whileLeading})
	if err != nil {
		return nil, err
	}
	var reg prometheus.Registerer
	if opt.Metrics != nil {
		reg = opt.Metrics
	}
	api, err = NewCorrespondence(ctx, CorrOptions{
		Store: opt.Store, Directory: opt.Directory, OperatorKey: opt.OperatorKey, Origin: opt.Origin, Log: lg,
		Logger: opt.Logger, Registerer: reg, Now: opt.Now, Rate: opt.Rate, Burst: opt.Burst,
		LineTap: opt.LineTap, OnLineClose: opt.OnLineClose, Limits: opt.Limits, Evidence: opt.Evidence,
		MaxAttachments: opt.MaxAttachments, Advertise: opt.Advertise,
	})
	if err != nil {
		return nil, err
	}
	rs, shared := opt.Store.(store.Replicas)
	if shared && opt.Advertise != "" {
		if err := rs.Heartbeat(ctx, opt.Advertise, HeartbeatTTL); err != nil {
			return nil, fmt.Errorf("server: registering this replica at %s: %w", opt.Advertise, err)
		}
	}
	srv := newServer(Config{Store: opt.Store, Log: lg, Logger: opt.Logger, API: api, ProofWait: opt.ProofWait})
	if opt.Metrics != nil {
		srv.Handle("GET /metrics", promhttp.HandlerFor(opt.Metrics, promhttp.HandlerOpts{}))
	}
	run, stop := context.WithCancel(context.Background())
	n := &Node{Server: srv, Log: lg, API: api, stop: stop, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() { lg.Run(run) })
	if shared && opt.Advertise != "" {
		wg.Go(func() { api.heartbeat(run, rs) })
	}
	if shared {
		// Records other replicas append wake this one's inbox streams.
		wg.Go(func() { api.wakeStreams(run) })
	}
	go func() {
		wg.Wait()
		close(n.done)
	}()
	return n, nil
}

// Close stops the sequencer (and the deadline watcher) and waits until
// they have. It closes neither the
// store nor any listener.
func (n *Node) Close() {
	n.stop()
	<-n.done
}
