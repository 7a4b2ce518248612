package model

import "sync"

// Lanes is the fixed number of concurrent lanes of the batch helpers. Sequence i
// goes to lane i mod Lanes; each lane has its own workspace and gradient buffer,
// and the lanes' gradients are added to dst in lane order. Because the number
// of lanes does not depend on GOMAXPROCS, neither do the result's bits.
const Lanes = 4

// Seq is one sequence: Tokens = prompt then response, the response starting at
// index RespStart (1 ≤ RespStart < len(Tokens) ≤ Cfg.T).
type Seq struct {
	Tokens    []int32
	RespStart int
}

// AccumulateGrads adds to dst the summed gradient of many sequences:
//
//	dst += Σ_i ∇θ Σ_j dlogps[i][j]·lp_i[j]
//
// where lp_i are the response log-probs of seqs[i] (see Workspace.Forward). It
// uses Lanes goroutines and, after the first call, allocates nothing. It panics
// like Forward on a bad sequence, or if the lengths do not match.
func (m *Model[F]) AccumulateGrads(dst []F, seqs []Seq, dlogps [][]F) {
	if len(dst) != len(m.Params) {
		panic("model: gradient buffer length does not match the model")
	}
	if len(dlogps) != len(seqs) {
		panic("model: dlogps and seqs lengths differ")
	}
	for i, s := range seqs {
		checkSeq(m.Cfg, s.Tokens, s.RespStart)
		if len(dlogps[i]) != len(s.Tokens)-s.RespStart {
			panic("model: dlogp length does not match the response length")
		}
	}
	p := m.pool()
	p.run(laneJob[F]{kind: jobGrad, seqs: seqs, dlogps: dlogps})
	p.run(laneJob[F]{kind: jobReduce, dst: dst})
}

// LogProbs returns the per-response-token log-probs of each sequence (see
// Workspace.Forward), computed on Lanes goroutines. The result is newly allocated.
func (m *Model[F]) LogProbs(seqs []Seq) [][]F {
	out := make([][]F, len(seqs))
	for i, s := range seqs {
		checkSeq(m.Cfg, s.Tokens, s.RespStart)
		out[i] = make([]F, len(s.Tokens)-s.RespStart)
	}
	m.pool().run(laneJob[F]{kind: jobLogProbs, seqs: seqs, out: out})
	return out
}

// Close stops the lane goroutines started by the batch helpers and frees their
// buffers. The model stays usable; a later batch call starts them again.
func (m *Model[F]) Close() {
	if m.lanes == nil {
		return
	}
	for _, c := range m.lanes.jobs {
		close(c)
	}
	m.lanes = nil
}

// checkSeq panics with Forward's messages if a sequence is malformed.
func checkSeq(cfg Config, tokens []int32, respStart int) {
	n := len(tokens)
	if n > cfg.T {
		panic("model: sequence longer than the context")
	}
	if respStart < 1 || respStart >= n {
		panic("model: response start outside [1, len(tokens))")
	}
	for _, tok := range tokens {
		if tok < 0 || int(tok) >= cfg.V {
			panic("model: token outside [0, vocab_size)")
		}
	}
}

const (
	jobGrad = iota
	jobReduce
	jobLogProbs
)

type laneJob[F Float] struct {
	kind   int
	seqs   []Seq
	dlogps [][]F
	out    [][]F
	dst    []F
}

// lanePool is Lanes long-lived goroutines, each owning a workspace (serial
// kernels) and a gradient buffer.
type lanePool[F Float] struct {
	ws   [Lanes]*Workspace[F]
	grad [Lanes][]F // (NumParams)
	jobs [Lanes]chan laneJob[F]
	wg   sync.WaitGroup
}

func (m *Model[F]) pool() *lanePool[F] {
	if m.lanes != nil {
		return m.lanes
	}
	p := &lanePool[F]{}
	for k := range Lanes {
		p.ws[k] = m.newWorkspace(1)
		p.grad[k] = make([]F, len(m.Params))
		p.jobs[k] = make(chan laneJob[F], 1)
		go p.loop(k)
	}
	m.lanes = p
	return p
}

// run gives job to every lane and waits for all of them.
func (p *lanePool[F]) run(job laneJob[F]) {
	p.wg.Add(Lanes)
	for _, c := range p.jobs {
		c <- job
	}
	p.wg.Wait()
}

func (p *lanePool[F]) loop(k int) {
	ws, g := p.ws[k], p.grad[k]
	for job := range p.jobs[k] {
		switch job.kind {
		case jobGrad:
			clear(g)
			for i := k; i < len(job.seqs); i += Lanes {
				ws.Forward(job.seqs[i].Tokens, job.seqs[i].RespStart)
				ws.Backward(g, job.dlogps[i])
			}
		case jobReduce:
			// lane k adds all lanes' gradients, in lane order, to its share of dst
			lo, hi := k*len(job.dst)/Lanes, (k+1)*len(job.dst)/Lanes
			for j := lo; j < hi; j++ {
				s := job.dst[j]
				for l := range Lanes {
					s += p.grad[l][j]
				}
				job.dst[j] = s
			}
		case jobLogProbs:
			for i := k; i < len(job.seqs); i += Lanes {
				copy(job.out[i], ws.Forward(job.seqs[i].Tokens, job.seqs[i].RespStart))
			}
		}
		p.wg.Done()
	}
}
