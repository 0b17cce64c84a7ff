// Command upstream is the application behind every setup of the load harness: it answers
// every request with a short fixed body, so that what the harness measures is the proxy in
// front of it.
package main

import (
	"flag"
	"net/http"
	"time"

	"github.com/sessiongate/sessiongate/bench/internal/serve"
)

var body = []byte("hello from the upstream\n")

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve on")
	flag.Parse()

	srv := &http.Server{
		Addr:              *listen,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write(body)
		}),
	}
	serve.Until("upstream", srv)
}
