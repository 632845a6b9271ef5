package server

import "context"

// NewCorrespondenceBehind is NewCorrespondence without the goroutine that
// follows the log: its directory and agreements stay behind what other
// servers sharing the store append, until a record it judges makes it
// catch up (retryStale).
func NewCorrespondenceBehind(ctx context.Context, opt CorrOptions) (*Correspondence, error) {
	opt.noFollow = true
	return NewCorrespondence(ctx, opt)
}
