package cria

// Functions C calls back into. A file with //export may only declare in its preamble, so
// the C helpers that pass these functions to cria live in cria.go.

/*
#include <stddef.h>
#include <stdbool.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// callbackState is what a C callback's user_data (a cgo.Handle) refers to.
type callbackState struct {
	onText     func(sequence int, text string) bool
	onProgress func(fraction float32) bool
	panicked   interface{}
}

func (s *callbackState) safeText(sequence int, text string) (goOn bool) {
	defer func() {
		if r := recover(); r != nil {
			s.panicked = r
			goOn = false
		}
	}()
	return s.onText(sequence, text)
}

func (s *callbackState) safeProgress(f float32) (goOn bool) {
	defer func() {
		if r := recover(); r != nil {
			s.panicked = r
			goOn = false
		}
	}()
	return s.onProgress(f)
}

//export criaGoText
func criaGoText(text *C.char, length C.size_t, userData unsafe.Pointer) C.bool {
	s := cgo.Handle(uintptr(userData)).Value().(*callbackState)
	if s.onText == nil {
		return true
	}
	return C.bool(s.safeText(0, C.GoStringN(text, C.int(length))))
}

//export criaGoSequenceText
func criaGoSequenceText(sequence C.size_t, text *C.char, length C.size_t, userData unsafe.Pointer) C.bool {
	s := cgo.Handle(uintptr(userData)).Value().(*callbackState)
	if s.onText == nil {
		return true
	}
	return C.bool(s.safeText(int(sequence), C.GoStringN(text, C.int(length))))
}

//export criaGoProgress
func criaGoProgress(progress C.float, userData unsafe.Pointer) C.bool {
	s := cgo.Handle(uintptr(userData)).Value().(*callbackState)
	if s.onProgress == nil {
		return true
	}
	return C.bool(s.safeProgress(float32(progress)))
}
