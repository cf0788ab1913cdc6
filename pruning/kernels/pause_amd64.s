//go:build amd64 && !purego

#include "textflag.h"

// func spinPause(n int)
//
// n PAUSE instructions: a spin-wait hint that lets the other hardware thread of the
// core run while this one polls.
TEXT ·spinPause(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	TESTQ CX, CX
	JLE done
loop:
	PAUSE
	DECQ CX
	JNZ loop
done:
	RET
