/* wavein.h: waveform records from audio files or SNT streams.
 *
 * Tools that take "an audio file or SNT waveform records" (stft, and
 * sepnet-fwd's waveform mode) iterate over their inputs with this: each
 * name is an audio file or an SNT stream, told apart by its first bytes;
 * no name (or "-") is standard input.  Every record comes out as planar
 * f32 [..., C, N] with an SNT header: an audio file gives shape C,N with
 * sr=, file= (the path as given) and track= (wave_track_name); SNT
 * records keep their keys, and s16/f16/bf16 payloads are converted to f32
 * (s16 scaled by 1/32768). */
#ifndef SEPNET_WAVEIN_H
#define SEPNET_WAVEIN_H

#include <stdbool.h>

#include "snt.h"

struct wave_input;

struct wave_input *wave_input_open(char *const *names, int n);
/* The track of names[i] among names: the file name without folder and
 * extension, or, for a file named mixture.* or a name that two files of
 * the list share, the name of the folder holding it (MUSDB's
 * test/SONG/mixture.wav is SONG).  malloc'd. */
char *wave_track_name(char *const *names, int n, int i);
/* 1 with h and *data (malloc'd, caller frees) set; 0 after the last record.
 * Dies naming the file and record on malformed input or a record that is
 * not a waveform (complex, or rank < 1). */
int wave_input_next(struct wave_input *in, struct snt_header *h, float **data);
/* From now on, waveform records [C, N] come out at sr Hz with `channels`
 * channels (lib/resample.h wave_conform; 0 leaves either as it is). */
void wave_input_conform(struct wave_input *in, int sr, int channels);
/* Whether name is a file that can be opened and is not an SNT stream (an
 * audio file, as far as its first bytes tell): "-" and missing files are
 * not. */
bool wave_is_audio_file(const char *name);
/* The seconds of audio in names, when every one is a named audio file (a
 * header read each, for a progress line's total); 0 when any is an SNT
 * stream, standard input or of unknown length. */
double wave_inputs_seconds(char *const *names, int n);
/* The name of the input the last record came from (for messages). */
const char *wave_input_name(const struct wave_input *in);
int64_t wave_input_record(const struct wave_input *in);
void wave_input_close(struct wave_input *in);

/* An audio file read in blocks and made sr Hz and `channels` channels as it
 * comes (0: as it is), the streaming twin of wave_input_conform: the same
 * samples as the file read whole and conformed (channels_map per sample,
 * resample.h's resampler), a downmix of more than two channels noted once
 * naming where.  Reads what a stream has (audio_read_some); dies naming
 * where on a NaN, a short file or a converter error. */
struct audio_reader;
struct wave_stream;
struct wave_stream *wave_stream_open(struct audio_reader *ar, int sr, int channels,
				     const char *where);
/* Samples at the output rate: the file's, -1 while a stream's is open. */
int64_t wave_stream_length(const struct wave_stream *ws);
int wave_stream_channels(const struct wave_stream *ws);
/* The next samples (channels, n) at *x, stride n, valid until the next
 * call; *end once the file has ended (n may be 0 then). */
int64_t wave_stream_read(struct wave_stream *ws, const float **x, bool *end);
void wave_stream_close(struct wave_stream *ws);

#endif
