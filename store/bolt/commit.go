package bolt

import (
	"fmt"
	"sync"

	"go.etcd.io/bbolt"
)

// maxGroup bounds how many writes share one transaction.
const maxGroup = 1000

// committer commits writes in groups: writes that arrive while a transaction commits wait for
// it and then share the next one, so concurrent writers pay one fsync between them and a lone
// writer waits for nobody. (bbolt's own DB.Batch instead waits MaxBatchDelay for company,
// which a request creating a session on a quiet gateway would pay in full.)
//
// Every write function must be safe to run again: when one of a group fails, the transaction
// is rolled back, the failing write runs alone and the others run again without it.
type committer struct {
	db    *bbolt.DB
	mu    sync.Mutex
	queue []*pendingWrite
	busy  bool // a leader is committing; the queue waits for it
}

type pendingWrite struct {
	fn   func(*bbolt.Tx) error
	err  error
	lead bool          // set before wake when this write's caller is to commit the next group
	wake chan struct{} // receives once: the write is done, or it leads
}

// update runs fn in a write transaction, committed (and fsynced) before it returns.
func (c *committer) update(fn func(*bbolt.Tx) error) error {
	w := &pendingWrite{fn: fn, wake: make(chan struct{}, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, w)
	leader := !c.busy
	c.busy = true
	c.mu.Unlock()
	if !leader {
		if <-w.wake; !w.lead {
			return w.err
		}
	}

	// This caller leads: its write is first in the queue, so in the group it takes.
	c.mu.Lock()
	n := min(len(c.queue), maxGroup)
	group := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.mu.Unlock()

	c.commit(group)
	for _, other := range group {
		if other != w {
			other.wake <- struct{}{}
		}
	}

	c.mu.Lock()
	if len(c.queue) > 0 {
		next := c.queue[0]
		next.lead = true
		next.wake <- struct{}{}
	} else {
		c.busy = false
	}
	c.mu.Unlock()
	return w.err
}

// commit runs the group's writes in one transaction and sets each write's error.
func (c *committer) commit(group []*pendingWrite) {
	for len(group) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bbolt.Tx) error {
			for i, w := range group {
				if err := call(w.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, w := range group {
				w.err = err // nil, or the commit's own failure
			}
			return
		}
		// Alone, the failing write gets its own error and the others do not share it.
		solo := group[failed]
		solo.err = c.db.Update(func(tx *bbolt.Tx) error { return call(solo.fn, tx) })
		group = append(group[:failed:failed], group[failed+1:]...)
	}
}

// call runs fn, turning a panic into an error: a leader that panicked would leave every
// other writer waiting forever.
func call(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a session store write: %v", p)
		}
	}()
	return fn(tx)
}
