package runfmt

// Values of the "kind" and "side" columns of the train streams. Writers and
// readers of every package use these names.
const (
	KindTrain  = "train"  // steps, pairs, grads: a training step or a training pair of its batch
	KindEval   = "eval"   // steps: a held-out evaluation
	KindProbe  = "probe"  // pairs, grads: a held-out probe pair at a dump step
	KindUpdate = "update" // grads: the step's update Δθ

	SideChosen   = "chosen"   // grads: g_w, or a chosen-response token's gradient
	SideRejected = "rejected" // grads: g_l, or a rejected-response token's gradient
	SideUpdate   = "update"   // grads: the update row
)

// Modes of a run (metadata "mode", train -mode).
const (
	ModeSFT  = "sft"  // supervised fine-tuning on prompt + chosen
	ModePref = "pref" // margin-based preference optimization
)
