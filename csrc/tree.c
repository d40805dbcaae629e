#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "tree.h"

static int alloc_links(tree *t)
{
    size_t n = t->n;
    t->child = calloc(n, sizeof(int));
    t->group = calloc(n, sizeof(int));
    t->leaf = calloc(n, sizeof(int));
    t->group_size = calloc(n, sizeof(size_t));
    t->group_offset = calloc(n, sizeof(size_t));
    if (!t->child || !t->group || !t->leaf || !t->group_size || !t->group_offset) {
        return DS_ERR_NOMEM;
    }
    return DS_OK;
}

static int copy_names(tree *t, const char *const *names)
{
    t->name = calloc(t->n, sizeof(char *));
    if (!t->name) return DS_ERR_NOMEM;
    for (size_t i = 0; i < t->n; ++i) {
        size_t len = strlen(names[i]);
        t->name[i] = malloc(len + 1);
        if (!t->name[i]) return DS_ERR_NOMEM;
        memcpy(t->name[i], names[i], len + 1);
    }
    return DS_OK;
}

/* Groups are runs of equal parents. A parent whose children form a second run
   would give one node two child groups, which Darknet silently overwrites; a
   second run of roots would be a root group that the walk from group 0 never
   reaches. Both are errors, as is a parent that is not an earlier node. */
static int link_groups(tree *t, size_t *bad_node)
{
    for (size_t i = 0; i < t->n; ++i) {
        t->child[i] = -1;
        t->leaf[i] = 1;
    }
    for (size_t i = 0; i < t->n; ++i) {
        int p = t->parent[i];
        if (p < -1 || (p >= 0 && (size_t)p >= i)) {
            *bad_node = i;
            return DS_ERR_FORMAT;
        }
        if (i == 0 || p != t->parent[i - 1]) {
            if ((p >= 0 && t->child[p] != -1) || (p == -1 && i > 0)) {
                *bad_node = i;
                return DS_ERR_FORMAT;
            }
            t->group_offset[t->groups] = i;
            t->groups++;
            if (p >= 0) t->child[p] = (int)(t->groups - 1);
        }
        t->group[i] = (int)(t->groups - 1);
        t->group_size[t->groups - 1]++;
        if (p >= 0) t->leaf[p] = 0;
    }
    return DS_OK;
}

/* t->n, t->parent and (optionally) t->name are set; this adds the rest. */
static int finish_tree(tree *t, size_t *bad_node)
{
    int status = alloc_links(t);
    if (status != DS_OK) return status;
    return link_groups(t, bad_node);
}

int make_tree(size_t n, const int *parent, const char *const *names, tree **out, size_t *bad_node)
{
    *out = NULL;
    if (n == 0 || n > (size_t)INT_MAX) return DS_ERR_ARG;
    tree *t = calloc(1, sizeof(tree));
    if (!t) return DS_ERR_NOMEM;
    t->n = n;
    t->parent = malloc(n * sizeof(int));
    int status = t->parent ? DS_OK : DS_ERR_NOMEM;
    if (status == DS_OK) {
        memcpy(t->parent, parent, n * sizeof(int));
        if (names) status = copy_names(t, names);
    }
    if (status == DS_OK) status = finish_tree(t, bad_node);
    if (status != DS_OK) {
        free_tree(t);
        return status;
    }
    *out = t;
    return DS_OK;
}

void free_tree(tree *t)
{
    if (!t) return;
    if (t->name) {
        for (size_t i = 0; i < t->n; ++i) free(t->name[i]);
        free(t->name);
    }
    free(t->parent);
    free(t->child);
    free(t->group);
    free(t->leaf);
    free(t->group_size);
    free(t->group_offset);
    free(t);
}

/* ---- read_tree ---- */

/* One line, grown as needed up to MAX_LINE_BYTES (Darknet reads names into a
   fixed 256-byte buffer with %s, which overflows). The cap stops a file that is
   not a tree (a binary with no newline, /dev/zero) from taking all memory. */
enum { MAX_LINE_BYTES = 1 << 20 };

typedef struct line_buffer {
    char *text;
    size_t length;
    size_t capacity;
    int too_long;
} line_buffer;

static int grow(void **array, size_t *capacity, size_t item_size)
{
    size_t wanted = *capacity ? *capacity : 64;
    if (*capacity) {
        if (*capacity > SIZE_MAX / 2 / item_size) return DS_ERR_NOMEM;
        wanted = *capacity * 2;
    }
    void *bigger = realloc(*array, wanted * item_size);
    if (!bigger) return DS_ERR_NOMEM;
    *array = bigger;
    *capacity = wanted;
    return DS_OK;
}

/* The next line, without its '\n' or a '\r' before it. *got is 0 at the end. */
static int read_line(FILE *fp, line_buffer *line, int *got)
{
    int c;
    *got = 0;
    line->length = 0;
    while ((c = getc(fp)) != EOF) {
        *got = 1;
        if (c == '\n') break;
        if (line->length == MAX_LINE_BYTES) {
            line->too_long = 1;
            return DS_ERR_FORMAT;
        }
        if (line->length + 1 >= line->capacity) {
            int status = grow((void **)&line->text, &line->capacity, 1);
            if (status != DS_OK) return status;
        }
        line->text[line->length++] = (char)c;
    }
    if (ferror(fp)) return DS_ERR_IO;
    if (!*got) return DS_OK;
    if (line->length > 0 && line->text[line->length - 1] == '\r') line->length--;
    if (!line->text) {
        int status = grow((void **)&line->text, &line->capacity, 1);
        if (status != DS_OK) return status;
    }
    line->text[line->length] = '\0';
    return DS_OK;
}

static void report(char *message, size_t size, const char *format, ...)
{
    if (!message || size == 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(message, size, format, args);
    va_end(args);
}

static int is_separator(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits text in place into fields separated by spaces or tabs; returns how
   many there are, keeping the first `most`. */
static size_t split_fields(char *text, char **field, size_t most)
{
    size_t count = 0;
    char *c = text;
    while (*c) {
        while (is_separator(*c)) *c++ = '\0';
        if (!*c) break;
        if (count < most) field[count] = c;
        count++;
        while (*c && !is_separator(*c)) c++;
    }
    return count;
}

/* Parses one "NAME PARENT" line (node i) into a new name and a parent. On a
   format error, describes it in `what` and sets nothing. */
static int parse_line(line_buffer *line, size_t i, char **name, int *parent, char *what,
                      size_t what_size)
{
    char *field[2];
    if (memchr(line->text, '\0', line->length)) {
        snprintf(what, what_size, "the line holds a NUL byte");
        return DS_ERR_FORMAT;
    }
    size_t count = split_fields(line->text, field, 2);
    if (count != 2) {
        if (count == 0) snprintf(what, what_size, "blank line");
        else
            snprintf(what, what_size, "expected NAME PARENT, found %zu field%s", count,
                     count == 1 ? "" : "s");
        return DS_ERR_FORMAT;
    }
    char *end;
    errno = 0;
    long value = strtol(field[1], &end, 10);
    if (*end || errno == ERANGE || value < INT_MIN || value > INT_MAX) {
        snprintf(what, what_size, "the parent is not an integer");
        return DS_ERR_FORMAT;
    }
    /* Lines count from 1, nodes (and so PARENT) from 0: node i is line i+1. */
    if (value < -1 || (value >= 0 && (size_t)value >= i)) {
        if (i == 0) {
            snprintf(what, what_size,
                     "parent %ld is not -1: the first line is node 0, "
                     "which has no earlier node",
                     value);
        } else {
            snprintf(what, what_size,
                     "parent %ld is not -1 or an earlier node: this line is "
                     "node %zu (nodes count from 0: node N is on line N+1)",
                     value, i);
        }
        return DS_ERR_FORMAT;
    }
    size_t length = strlen(field[0]);
    *name = malloc(length + 1);
    if (!*name) return DS_ERR_NOMEM;
    memcpy(*name, field[0], length + 1);
    *parent = (int)value;
    return DS_OK;
}

/* Appends node t->n, growing the name and parent arrays together. */
static int add_node(tree *t, size_t *capacity, char *name, int parent)
{
    if (t->n == *capacity) {
        size_t names_capacity = *capacity, parents_capacity = *capacity;
        int status = grow((void **)&t->name, &names_capacity, sizeof(char *));
        if (status == DS_OK) status = grow((void **)&t->parent, &parents_capacity, sizeof(int));
        if (status != DS_OK) return status;
        *capacity = names_capacity;
    }
    t->name[t->n] = name;
    t->parent[t->n] = parent;
    t->n++;
    return DS_OK;
}

static int read_nodes(FILE *fp, const char *filename, tree *t, char *message, size_t size)
{
    line_buffer line = {0};
    size_t capacity = 0;
    int got, status;
    while ((status = read_line(fp, &line, &got)) == DS_OK && got) {
        if (t->n == (size_t)INT_MAX) {
            report(message, size, "%s:%zu: too many lines", filename, t->n + 1);
            status = DS_ERR_FORMAT;
            break;
        }
        char *name = NULL, what[192];
        int parent = 0;
        status = parse_line(&line, t->n, &name, &parent, what, sizeof what);
        if (status == DS_ERR_FORMAT) report(message, size, "%s:%zu: %s", filename, t->n + 1, what);
        if (status == DS_OK) status = add_node(t, &capacity, name, parent);
        if (status != DS_OK) {
            free(name);
            break;
        }
    }
    if (line.too_long) {
        report(message, size, "%s:%zu: the line is longer than %d bytes", filename, t->n + 1,
               (int)MAX_LINE_BYTES);
    }
    free(line.text);
    return status;
}

/* Says why link_groups refused node i: every parent is already in range, so
   its group is a second run. */
static void report_split(const tree *t, size_t i, const char *filename, char *message, size_t size)
{
    int p = t->parent[i];
    if (p == -1) {
        report(message, size,
               "%s:%zu: a second run of roots (parent -1); every root must "
               "stand in the first lines",
               filename, i + 1);
        return;
    }
    size_t first = t->group_offset[t->child[p]];
    report(message, size,
           "%s:%zu: the children of node %d (%s, line %d) are split: they "
           "start on line %zu and again here",
           filename, i + 1, p, t->name[p], p + 1, first + 1);
}

int read_tree(const char *filename, tree **out, char *message, size_t message_size)
{
    *out = NULL;
    report(message, message_size, "%s", "");
    FILE *fp = fopen(filename, "rb");
    if (!fp) {
        int error = errno;
        report(message, message_size, "%s: %s", filename, strerror(error));
        errno = error;
        return DS_ERR_IO;
    }
    tree *t = calloc(1, sizeof(tree));
    int status = t ? read_nodes(fp, filename, t, message, message_size) : DS_ERR_NOMEM;
    int error = errno;
    fclose(fp);
    if (status == DS_ERR_IO) {
        report(message, message_size, "%s: %s", filename, strerror(error));
    } else if (status == DS_OK && t->n == 0) {
        report(message, message_size, "%s: the file is empty", filename);
        status = DS_ERR_FORMAT;
    } else if (status == DS_OK) {
        size_t bad_node = 0;
        status = finish_tree(t, &bad_node);
        if (status == DS_ERR_FORMAT) report_split(t, bad_node, filename, message, message_size);
    }
    if (status != DS_OK) {
        free_tree(t);
        errno = error;
        return status;
    }
    *out = t;
    return DS_OK;
}

/* ---- the helpers (src/tree.c, src/data.c) ---- */

static int labelled(float value)
{
    return value != 0 && value != SECRET_NUM;
}

int fill_hierarchy(float *truth, size_t k, const tree *hier)
{
    if (k != hier->n) return DS_ERR_ARG;
    for (size_t j = 0; j < k; ++j) {
        if (!labelled(truth[j])) continue;
        for (int p = hier->parent[j]; p >= 0; p = hier->parent[p]) truth[p] = 1;
    }
    for (size_t g = 0; g < hier->groups; ++g) {
        float *values = truth + hier->group_offset[g];
        size_t size = hier->group_size[g], i = 0;
        while (i < size && !labelled(values[i])) ++i;
        if (i < size) continue;
        for (i = 0; i < size; ++i) values[i] = SECRET_NUM;
    }
    return DS_OK;
}

int hierarchy_predictions(float *predictions, size_t n, const tree *hier, int only_leaves,
                          size_t stride)
{
    if (n > hier->n || stride == 0) return DS_ERR_ARG;
    for (size_t j = 0; j < n; ++j) {
        int parent = hier->parent[j];
        if (parent >= 0) predictions[j * stride] *= predictions[(size_t)parent * stride];
    }
    if (only_leaves) {
        for (size_t j = 0; j < n; ++j) {
            if (!hier->leaf[j]) predictions[j * stride] = 0;
        }
    }
    return DS_OK;
}

int get_hierarchy_probability(const float *x, const tree *hier, int c, size_t stride,
                              float *probability)
{
    if (c < 0 || (size_t)c >= hier->n || stride == 0) return DS_ERR_ARG;
    double p = 1;
    for (; c >= 0; c = hier->parent[c]) p *= x[(size_t)c * stride];
    *probability = (float)p;
    return DS_OK;
}

/* Darknet starts each group's search at node 0 with a best value of 0, so a
   group with nothing above 0 named node 0; here it names the group's first node. */
int hierarchy_top_prediction(const float *predictions, const tree *hier, float thresh,
                             size_t stride)
{
    double p = 1;
    size_t group = 0;
    for (;;) {
        size_t offset = hier->group_offset[group];
        float max = 0;
        size_t max_i = offset;
        for (size_t i = offset; i < offset + hier->group_size[group]; ++i) {
            float value = predictions[i * stride];
            if (value > max) {
                max = value;
                max_i = i;
            }
        }
        if (p * max > thresh) {
            p *= max;
            if (hier->child[max_i] < 0) return (int)max_i;
            group = (size_t)hier->child[max_i];
        } else if (group == 0) {
            return (int)max_i;
        } else {
            return hier->parent[offset];
        }
    }
}
