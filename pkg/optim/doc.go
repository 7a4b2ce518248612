// Package optim holds the optimizers and learning-rate schedule of the
// entangle trainers, each over ONE flat parameter buffer with the layout of
// model.Tensors, so that a step is a single loop and a checkpoint saves the
// optimizer state (the flat moment buffers and the step count) exactly.
//
// The step count is the field T because Go cannot have a field and a method
// both named Step; the update method is Step(params, grads, lr).
//
// # Contents
//
//   - SGD: PyTorch's torch.optim.SGD (momentum, L2 weight decay added to the gradient).
//   - AdamW: PyTorch's torch.optim.AdamW (Loshchilov & Hutter 2019, "Decoupled
//     Weight Decay Regularization"); its Adam holds β1, β2, ε (PyTorch's defaults 0.9,
//     0.999, 1e-8 from NewAdamW; train -adam-beta1, -adam-beta2, -adam-eps).
//   - ClipGlobalNorm: scale the gradient so that its L2 norm is at most maxNorm.
//   - Schedule: warmup then cosine, linear or constant decay, a pure function of
//     the step, shaped like nanoGPT's get_lr.
//
// Every update is element-wise and computed in float64, so results do not
// depend on GOMAXPROCS; AdamW.Step runs fixed parts of the vector on up to
// GOMAXPROCS goroutines (each element is computed alone, so the bits are
// those of the serial loop; for float32 buffers the loop runs four elements
// at a time on AVX2 where the CPU has it, the same float64 operations in
// the same order: the same bits, TestAdamWKernel). ClipGlobalNorm sums squares in float64 over
// the same fixed parts, in index order within each, and adds the parts'
// sums in order, so its norm does not depend on GOMAXPROCS either.
//
//	opt := optim.NewAdamW[float32](len(m.Params), 0.1)
//	norm := optim.ClipGlobalNorm(grad, 1.0)
//	opt.Step(m.Params, grad, sched.LR(step))
package optim
