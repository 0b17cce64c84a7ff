package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Store writes are counted from outside Caddy, without touching the product's code:
//   - bolt: the id of the last committed write transaction, read from the file's two meta
//     pages (bbolt's on-disk format). Caddy holds the file's lock, so the harness cannot open
//     it with bbolt while it runs; reading the pages needs no lock. Every sessiongate write
//     (a session created, a batch of activity touches, a sweep batch) is one transaction,
//     committed and fsynced.
//   - redis: rdb_changes_since_last_save from INFO persistence. The harness's redis never
//     saves, so it counts every key change since it started.

// boltTxID is the id of the last committed transaction of the bbolt file at path.
func boltTxID(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// A page header is 16 bytes; the meta after it: magic, version, pageSize, flags (4 each),
	// root bucket (16), freelist (8), pgid (8), txid (8), checksum (8, FNV-64a of the rest).
	const hdr, metaLen, magic = 16, 64, 0xED0CDAED
	readMeta := func(off int64) (txid uint64, pageSize uint32, ok bool) {
		b := make([]byte, metaLen)
		if _, err := f.ReadAt(b, off+hdr); err != nil {
			return 0, 0, false
		}
		le := binary.LittleEndian
		h := fnv.New64a()
		h.Write(b[:56])
		if le.Uint32(b[0:]) != magic || h.Sum64() != le.Uint64(b[56:]) {
			return 0, 0, false
		}
		return le.Uint64(b[48:]), le.Uint32(b[8:]), true
	}
	tx0, pageSize, ok0 := readMeta(0)
	if !ok0 {
		// The first meta may be mid-write; the page size is then the OS's.
		pageSize = uint32(os.Getpagesize())
	}
	tx1, _, ok1 := readMeta(int64(pageSize))
	switch {
	case ok0 && ok1:
		return max(tx0, tx1), nil
	case ok0:
		return tx0, nil
	case ok1:
		return tx1, nil
	}
	return 0, fmt.Errorf("%s: no valid bbolt meta page", path)
}

// boltTxIDLocked is the same id read through bbolt itself, once Caddy has let go of the file:
// a check of boltTxID.
func boltTxIDLocked(path string) (uint64, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var id uint64
	err = db.View(func(tx *bbolt.Tx) error { id = uint64(tx.ID()); return nil })
	return id, err
}

// redisChanges is the redis server's count of key changes since it started (it never saves).
func redisChanges(port int) (int64, error) {
	info, err := redisInfo(port, "persistence")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "rdb_changes_since_last_save:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("redis INFO persistence has no rdb_changes_since_last_save")
}

// redisInfo runs INFO section over RESP.
func redisInfo(port int, section string) (string, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "*2\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n", len(section), section)
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(line, "$") {
		return "", fmt.Errorf("redis INFO: %s", strings.TrimSpace(line))
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil || n < 0 {
		return "", fmt.Errorf("redis INFO: bad reply %q", line)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}
