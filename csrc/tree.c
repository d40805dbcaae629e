#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "tree.h"

static int alloc_arrays(tree *t, size_t n)
{
    t->parent = calloc(n, sizeof(int));
    t->child = calloc(n, sizeof(int));
    t->group = calloc(n, sizeof(int));
    t->leaf = calloc(n, sizeof(int));
    t->group_size = calloc(n, sizeof(size_t));
    t->group_offset = calloc(n, sizeof(size_t));
    if (!t->parent || !t->child || !t->group || !t->leaf || !t->group_size || !t->group_offset) {
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

/* Groups are runs of equal parents; a parent whose children form a second run
   would give one node two child groups, which Darknet silently overwrites. */
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
        if (i == 0 || p != t->parent[i-1]) {
            if (p >= 0 && t->child[p] != -1) {
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

int make_tree(size_t n, const int *parent, const char *const *names,
              tree **out, size_t *bad_node)
{
    *out = NULL;
    if (n == 0 || n > (size_t)0x7fffffff) return DS_ERR_ARG;
    tree *t = calloc(1, sizeof(tree));
    if (!t) return DS_ERR_NOMEM;
    t->n = n;
    int status = alloc_arrays(t, n);
    if (status == DS_OK) {
        memcpy(t->parent, parent, n*sizeof(int));
        status = link_groups(t, bad_node);
    }
    if (status == DS_OK && names) status = copy_names(t, names);
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
