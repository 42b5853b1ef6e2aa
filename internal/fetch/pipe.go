package fetch

import (
	"io"
	"sync"
)

// chunkPipe hands chunks from the downloading goroutine to a consumer
// (the tar extractor) through a small queue, so that downloading and
// hashing run at the same time as decompressing and writing. io.Pipe would
// make every write wait for the reader.
type chunkPipe struct {
	ch   chan []byte
	pool sync.Pool
	cur  []byte
	buf  []byte // the pooled buffer cur is a slice of

	mu     sync.Mutex
	rerr   error // set by the reader: writes stop feeding it
	closed chan struct{}
	werr   error // set by the writer at close: what the reader sees at the end
}

func newChunkPipe(depth, size int) *chunkPipe {
	p := &chunkPipe{ch: make(chan []byte, depth), closed: make(chan struct{})}
	p.pool.New = func() any { b := make([]byte, size); return &b }
	return p
}

// Write queues a copy of b; after the reader has stopped it drops b.
func (p *chunkPipe) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		bp := p.pool.Get().(*[]byte)
		c := copy(*bp, b)
		b = b[c:]
		select {
		case p.ch <- (*bp)[:c]:
		case <-p.closed:
			p.pool.Put(bp)
			return n, nil
		}
	}
	return n, nil
}

// CloseWrite ends the stream with err (nil: io.EOF).
func (p *chunkPipe) CloseWrite(err error) {
	if err == nil {
		err = io.EOF
	}
	p.mu.Lock()
	p.werr = err
	p.mu.Unlock()
	close(p.ch)
}

// Read implements io.Reader for the consumer.
func (p *chunkPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.buf != nil {
			buf := p.buf[:cap(p.buf)]
			p.pool.Put(&buf)
			p.buf = nil
		}
		c, ok := <-p.ch
		if !ok {
			p.mu.Lock()
			defer p.mu.Unlock()
			return 0, p.werr
		}
		p.cur, p.buf = c, c
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// CloseRead tells the writer that the reader is gone.
func (p *chunkPipe) CloseRead() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closed:
	default:
		close(p.closed)
	}
}
