package gradstat

import "entangle/pkg/runfmt"

// Input is one run to read (runfmt.Resolve).
type Input = runfmt.RunInput
