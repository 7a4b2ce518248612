package model

// encoderForward adds token and position embeddings:
//
//	out[t,:] = wte[tokens[t],:] + wpe[t,:]
//
// out is (T,C); tokens is (T); wte is (V,C); wpe is (≥T,C).
func encoderForward[F Float](out []F, tokens []int32, wte, wpe []F, T, C int) {
	for t := 0; t < T; t++ {
		o := out[t*C : (t+1)*C]
		e := wte[int(tokens[t])*C : int(tokens[t]+1)*C]
		p := wpe[t*C : (t+1)*C]
		for c := range o {
			o[c] = e[c] + p[c]
		}
	}
}

// encoderBackward accumulates the embedding gradients. In the forward pass this was
// out[t,:] = wte[tokens[t],:] + wpe[t,:], so
//
//	dwte[tokens[t],:] += dout[t,:]   (t in order; repeated tokens add up)
//	dwpe[t,:]         += dout[t,:]
func encoderBackward[F Float](dwte, dwpe, dout []F, tokens []int32, T, C int) {
	for t := 0; t < T; t++ {
		g := dout[t*C : (t+1)*C]
		de := dwte[int(tokens[t])*C : int(tokens[t]+1)*C]
		dp := dwpe[t*C : (t+1)*C]
		for c, v := range g {
			de[c] += v
			dp[c] += v
		}
	}
}

// residualForward computes out = inp1 + inp2, all (N). Its backward adds dout
// to both inputs' gradients; the model does that in place on the residual
// stream's gradient buffer instead of calling a kernel.
func residualForward[F Float](out, inp1, inp2 []F, N int) {
	for i := 0; i < N; i++ {
		out[i] = inp1[i] + inp2[i]
	}
}

// embedForward looks up token embeddings (no positions: rotary models):
//
//	out[t,:] = wte[tokens[t],:]
func embedForward[F Float](out []F, tokens []int32, wte []F, T, C int) {
	for t := 0; t < T; t++ {
		copy(out[t*C:(t+1)*C], wte[int(tokens[t])*C:int(tokens[t]+1)*C])
	}
}

// embedBackward accumulates dwte[tokens[t],:] += dout[t,:], t in order.
func embedBackward[F Float](dwte, dout []F, tokens []int32, T, C int) {
	for t := 0; t < T; t++ {
		g := dout[t*C : (t+1)*C]
		de := dwte[int(tokens[t])*C : int(tokens[t]+1)*C]
		for c, v := range g {
			de[c] += v
		}
	}
}
