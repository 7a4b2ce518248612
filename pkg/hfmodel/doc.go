// Package hfmodel reads and writes Hugging Face model directories: a
// config.json and the weights in model.safetensors, or in shards listed by
// model.safetensors.index.json.
//
// Each supported architecture is a [Family]: a reader of its config.json
// that refuses every setting the model does not implement, and a tensor
// table of [Mapping] rows (stored name and shape → a model.Tensors tensor,
// its first row, whether the stored matrix is transposed). Loading checks
// every stored tensor against the table before allocating anything: a name
// the table does not know (other than the family's buffers), a missing
// tensor, a wrong shape or a non-float dtype is one error line naming the
// file. F32, F16 and BF16 weights convert to float32 exactly.
//
// GPT-2 (model_type "gpt2": gpt2, distilgpt2, gpt2-medium/large/xl):
//
//	stored ([transformer.] prefix optional)   shape        ours          how
//	wte.weight                                (V, C)       wte           copy
//	wpe.weight                                (n_pos, C)   wpe           copy (T = n_positions)
//	h.l.ln_1.{weight,bias}                    (C)          h.l.ln1.{w,b} copy
//	h.l.attn.c_attn.weight                    (C, 3C)      h.l.attn.qkv.w (3C, C)  transpose (Conv1D [in, out])
//	h.l.attn.c_attn.bias                      (3C)         h.l.attn.qkv.b copy
//	h.l.attn.c_proj.weight                    (C, C)       h.l.attn.proj.w         transpose
//	h.l.attn.c_proj.bias                      (C)          h.l.attn.proj.b copy
//	h.l.ln_2.{weight,bias}                    (C)          h.l.ln2.{w,b} copy
//	h.l.mlp.c_fc.weight                       (C, 4C)      h.l.mlp.fc.w (4C, C)    transpose
//	h.l.mlp.c_fc.bias                         (4C)         h.l.mlp.fc.b  copy
//	h.l.mlp.c_proj.weight                     (4C, C)      h.l.mlp.proj.w (C, 4C)  transpose
//	h.l.mlp.c_proj.bias                       (C)          h.l.mlp.proj.b copy
//	ln_f.{weight,bias}                        (C)          lnf.{w,b}     copy
//	lm_head.weight                            (V, C)       lm_head.w     only when tie_word_embeddings is false
//	h.l.attn.bias, h.l.attn.masked_bias       buffers      —             skipped
//
// c_attn's output columns are q | k | v, head h at columns h·hs..(h+1)·hs of
// each third, which is the row order of our fused qkv: a transpose is the
// whole mapping. A tied checkpoint that also stores lm_head.weight must store
// wte there. config.json must have activation_function gelu_new (or
// gelu_pytorch_tanh, the same function), layer_norm_epsilon 1e-5, n_inner
// null or 4·n_embd, scale_attn_weights true, scale_attn_by_inverse_layer_idx,
// reorder_and_upcast_attn and add_cross_attention false, no pruned_heads;
// absent keys take transformers' GPT2Config defaults. Dropout rates are
// ignored (the model has no dropout).
//
// A new family (GPT-NeoX, Llama) is a Family value: its config reader and
// table (Row0 places q, k and v stored apart into the fused qkv; a per-head
// interleaved qkv needs a row permutation added to Mapping), provided the
// model implements its architecture.
//
// [Write] is the inverse: config.json and model.safetensors in the family's
// names and layout, loadable by transformers' from_pretrained unchanged.
package hfmodel
