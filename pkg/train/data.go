package train

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	"entangle/pkg/model"
	"entangle/pkg/prefdata"
)

// Fingerprint returns a hash of a dataset's content (vocabulary, and every
// example's id, split and tokens), independent of the file format it was
// read from. A checkpoint records it so that -resume refuses other data.
func Fingerprint(d *prefdata.Dataset) string {
	h := sha256.New()
	var buf [8]byte
	put := func(x uint64) {
		binary.LittleEndian.PutUint64(buf[:], x)
		h.Write(buf[:])
	}
	ids := func(s []int32) {
		put(uint64(len(s)))
		for _, t := range s {
			put(uint64(uint32(t)))
		}
	}
	put(uint64(d.Vocab.Size()))
	for _, t := range d.Vocab.Tokens {
		put(uint64(len(t)))
		h.Write([]byte(t))
	}
	put(uint64(len(d.Examples)))
	for i := range d.Examples {
		e := &d.Examples[i]
		put(uint64(e.ID))
		put(uint64(len(e.Split)))
		h.Write([]byte(e.Split))
		ids(e.Prompt)
		ids(e.Chosen)
		ids(e.Rejected)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// CheckFits returns an error when the model cannot read the dataset: its
// vocabulary is larger than the model's V, or a prompt+response is longer than
// the context T. The message names both numbers.
func CheckFits(cfg model.Config, d *prefdata.Dataset) error {
	if v := d.Vocab.Size(); v > cfg.V {
		return fmt.Errorf("the dataset's vocabulary has %d tokens but the model's vocab_size is %d (use a larger -model or -vocab-size)", v, cfg.V)
	}
	if n := d.MaxLen(); n > cfg.T {
		return fmt.Errorf("the dataset's longest sequence has %d tokens but the model's context is %d (use a larger -model or -context)", n, cfg.T)
	}
	return nil
}

// Order is the data order of a run: epoch e visits the n training examples in
// a permutation drawn from rand.NewPCG(seed, 1+e) (the model's Init uses
// stream 0), so the batch of any step is a pure function of (seed, step) and
// -resume needs no generator state. An epoch has ceil(n/batch) steps; its last
// batch may be smaller.
type Order struct {
	N, Batch int
	Seed     uint64
	epoch    int
	perm     []int
}

// StepsPerEpoch returns ceil(N/Batch).
func (o *Order) StepsPerEpoch() int { return (o.N + o.Batch - 1) / o.Batch }

// Batch returns the indices (into the training examples) of step's batch
// (0-based). The returned slice is valid until the next call.
func (o *Order) BatchOf(step int) []int {
	spe := o.StepsPerEpoch()
	e, b := step/spe, step%spe
	if o.perm == nil || o.epoch != e {
		o.perm = rand.New(rand.NewPCG(o.Seed, 1+uint64(e))).Perm(o.N)
		o.epoch = e
	}
	return o.perm[b*o.Batch : min((b+1)*o.Batch, o.N)]
}

// sftSeq returns the SFT sequence of e: prompt then chosen response.
func sftSeq(e *prefdata.Example) model.Seq {
	return seqOf(e.Prompt, e.Chosen)
}

func seqOf(prompt, resp []int32) model.Seq {
	t := make([]int32, 0, len(prompt)+len(resp))
	t = append(append(t, prompt...), resp...)
	return model.Seq{Tokens: t, RespStart: len(prompt)}
}
