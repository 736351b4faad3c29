module github.com/attache-sidecar/attache/bench/go

go 1.24.0

require github.com/attache-sidecar/attache/sdks/go v0.0.0

require (
	connectrpc.com/connect v1.19.1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/attache-sidecar/attache/sdks/go => ../../sdks/go
