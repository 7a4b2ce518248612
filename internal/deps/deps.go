// Package deps pins the module's dependencies while the packages that use
// them are being written. It is deleted once every dependency has a user.
package deps

import (
	_ "github.com/apache/arrow/go/v17/arrow/ipc"
	_ "github.com/klauspost/compress/zstd"
	_ "golang.org/x/sys/cpu"
	_ "gonum.org/v1/gonum/diff/fd"
	_ "gonum.org/v1/gonum/floats"
	_ "gonum.org/v1/plot"
)
