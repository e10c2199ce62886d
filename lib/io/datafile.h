/* datafile.h: configs and models by name.
 *
 * `-c base` and `-m demo` name the shipped configs/base.ini and
 * models/demo.safetensors from any folder: an argument without a slash
 * and without the kind's suffix, that is not a file in the current
 * folder, is looked up in $SEPNET_DATA/KIND, then PREFIX/share/sepnet/KIND
 * beside the installed program (its bin/../share/sepnet), then the source
 * tree's KIND folder (bin/../KIND, for a program run from the tree), then
 * the KIND folder of the tree it was built in (BINDIR=elsewhere). */
#ifndef SEPNET_DATAFILE_H
#define SEPNET_DATAFILE_H

/* The path to open for arg: arg itself, or the file it names in KIND
 * ("configs" with suffix ".ini", "models" with ".safetensors").  Dies
 * naming the folders searched when a bare name is found in none.  The
 * result is arg or a string that lives until exit. */
const char *datafile_resolve(const char *arg, const char *kind, const char *suffix);

#endif
