/* Harness: an uploaded image's bytes through image_clean (src/media/image.h), in-process without
 * a server. The promises checked: an accepted image has a type, a size within the limits, cleaned
 * bytes no longer than the input that start with the type's signature, and cleaning them again
 * gives the same type, size and bytes; a refusal always says why. */
#include "fuzz.h"

#include "../../src/media/image.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image img;
	char err[512] = "";
	if (!image_clean(data, size, &img, err, sizeof err)) {
		if (!*err)
			fuzz_fail("image: refused without a message");
		if (img.data || img.len)
			fuzz_fail("image: refused with an output");
		return 0;
	}
	if (!image_ext(img.type) || !img.width || !img.height || img.width > IMAGE_MAX_SIDE ||
	    img.height > IMAGE_MAX_SIDE || (unsigned long long)img.width * img.height > IMAGE_MAX_PIXELS)
		fuzz_fail("image: accepted with a bad type or size");
	if (img.len > size || img.len < 8 || memcmp(img.data, data, 2) != 0)
		fuzz_fail("image: cleaned bytes longer than the input or without its signature");
	struct image again;
	if (!image_clean(img.data, img.len, &again, err, sizeof err))
		fuzz_fail("image: its cleaned bytes are refused");
	else if (again.type != img.type || again.width != img.width || again.height != img.height ||
		 again.len != img.len || memcmp(again.data, img.data, img.len) != 0)
		fuzz_fail("image: cleaning twice changes the bytes");
	image_free(&again);
	image_free(&img);
	return 0;
}
