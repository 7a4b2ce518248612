//go:build aix || linux || solaris || zos

package cli

import "golang.org/x/sys/unix"

const ioctlGetTermios = unix.TCGETS
