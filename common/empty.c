/* Keeps a core library non-empty while its service has no units yet. */
int ds_empty_translation_unit;
