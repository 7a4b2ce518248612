// Package train is the training loop of the entangle toolkit: supervised
// fine-tuning (SFT) and margin-based preference optimization of the GPT of
// pkg/model, with checkpoints that resume bit-identically.
//
// # Runs
//
// A run lives in a directory (train -out DIR) whose files are the table
// runfmt.Layout: config.json, steps.arrows, in -mode pref pairs.arrows,
// grads.arrows (-grads) and attrib.arrows (-attrib), checkpoint.safetensors,
// model.safetensors and DONE, written last. Run (with -force) first removes
// every file of that table and their temporary files.
//
// Config.Init and the reference may also name a Hugging Face model directory
// (pkg/hfmodel), whose vocabulary must be the dataset's. ReadCheckpoint checks
// a file's config against the tensors it holds before allocating, and
// Prepare refuses a run whose memory estimate (MemoryNeed) exceeds the
// memory available (MemoryAvailable).
//
// Prepare resolves a Config against the dataset, Run trains, Resume continues
// from the checkpoint. When the context is cancelled (SIGINT or SIGTERM in the
// train command), the current step finishes, the checkpoint is written, every
// stream gets its end-of-stream marker, and the error wraps ErrInterrupted.
//
// Both modes run one loop (runner.loop: the step-0 evaluation, per step the
// mode's step, the steps row, progress, periodic checkpoints, interruption,
// the final checkpoint and DONE); a mode supplies its step, its evaluation,
// its checkpoint state and its own streams. The preference step is one call,
// pref.Stepper.Step; rows.go turns its values into the streams' rows.
//
// # LoRA
//
// Config.LoRA (train -lora-r, -lora-alpha, -lora-modules, -lora-init)
// trains peft-style adapters on the -init model's projections with the base
// weights frozen (lora.go): the optimizer's state, clipping and update are
// the adapter gradient's, the model runs with the merged weights, the
// preference reference is the model with its adapters disabled, and the
// pairs stream carries the adapter groups after the model's. Checkpoints
// hold the base weights and "lora.params"; model.safetensors the merged
// weights; runfmt.AdapterDir the adapters in peft's layout.
//
// # Resume
//
// Resume validates the checkpoint's train config as the flags are
// (Config.Validate), removes the temporary files of killed writes, and
// rebuilds each stream from its record batches up to the checkpoint's step:
// they are copied into a temporary file (runfmt.ResumeCopy), checked to be
// every step the run wrote up to the checkpoint (a missing step or a read
// error before it fails the resume), synced, and renamed over the stream.
// A resume that fails or is killed at any point leaves the previous stream
// intact for the next one. A run interrupted before its first step resumes
// from its step-0 checkpoint without writing the step-0 evaluation again.
//
// # SFT
//
// The training examples are the "sft" split (or "train" when there is none):
// the sequence prompt + chosen, with the next-token cross-entropy on the
// response tokens only, averaged over the batch's response tokens:
//
//	L = −(1/N) Σ_i Σ_{t∈y_i} log π(y_t | x_i, y_<t),   N = Σ_i |y_i|
//
// so the model's backward pass is seeded with dlogp = −1/N (llm.c's
// "dlosses = 1/(B·T)"). Every EvalEvery steps, at step 0 and at the end, the
// "test" split is evaluated: the mean response-token loss and token accuracy
// (argmax = target) on prompt + chosen, and over the pairs the mean summed and
// per-token log-probs of both responses, their mean difference (column margin)
// and the fraction of pairs with log π(y_w|x) > log π(y_l|x) (column
// rewards_accuracies: the "eval pref accuracy", rewards being the log-probs
// themselves since SFT has no reference).
//
// # Determinism
//
// The batch of step s is a pure function of (Seed, s): epoch e visits the
// examples in the permutation drawn from rand.NewPCG(Seed, 1+e), an epoch has
// ceil(n/Batch) steps (the last batch may be smaller), and the model's Init
// uses stream 0. Per-sequence work runs on model.Lanes goroutines, sequence i
// on lane i mod Lanes, lanes reduced in lane order; statistics are summed in
// index order; the optimizers are element-wise. So the same Config and data
// give the same checkpoint bytes and the same metrics (except the wall-time
// column ms) for any GOMAXPROCS, and a resumed run ends with the same weights
// as an uninterrupted one.
//
// # Checkpoints
//
// safetensors files: the parameters under their model.Tensors names (F32,
// with shapes), then optim.m and optim.v (F32, flat; SGD's momentum or AdamW's
// moments, when present) and optim.t (I64 scalar, the optimizer's step count).
// "__metadata__": format ("entangle.checkpoint", or "entangle.model" for
// model.safetensors, which has no optimizer tensors), format_version (FormatVersion),
// config (model.Config JSON), train_config (Config JSON), step, mode.
package train
