#ifndef DARKNET_SOFTMAX_TREE_H
#define DARKNET_SOFTMAX_TREE_H

#include <stddef.h>

#include "status.h"

/* A truth value that masks its group: delta and loss are 0 there. */
enum { SECRET_NUM = -1234 };

/* Darknet's WordTree (src/tree.h). Each run of consecutive nodes with the same
   parent is one group; group i holds nodes group_offset[i] .. + group_size[i]. */
typedef struct tree {
    size_t n;
    size_t groups;
    int *parent; /* index of an earlier node, or -1 for a root */
    int *child;  /* the group of a node's children, or -1 for a leaf */
    int *group;  /* the group a node belongs to */
    int *leaf;   /* 1 where no node names this one as parent */
    size_t *group_size;
    size_t *group_offset;
    char **name; /* n names, or NULL when the tree has none */
} tree;

/* Builds a tree from n parent indices; names may be NULL. On a bad parent,
   *bad_node is its index and the status is DS_ERR_FORMAT. */
DS_API int make_tree(size_t n, const int *parent, const char *const *names, tree **out,
                     size_t *bad_node);
DS_API void free_tree(tree *t);

/* Reads a .tree file: one node a line, "NAME PARENT", PARENT an earlier line
   or -1. On failure *out is NULL and message holds "FILE:LINE: what" (cut to
   message_size bytes); on DS_ERR_IO errno says why the file could not be read. */
DS_API int read_tree(const char *filename, tree **out, char *message, size_t message_size);

/* The helpers of src/tree.c and src/data.c. Values of one node vector are read
   at index*stride. */

/* Sets to 1 the ancestors of every labelled node of truth, k == hier->n,
   then sets each group with no label to SECRET_NUM. SECRET_NUM is not a label,
   so a filled truth fills to itself. */
DS_API int fill_hierarchy(float *truth, size_t k, const tree *hier);
/* Conditional probabilities to absolute ones, in place, for the first n nodes;
   with only_leaves, inner nodes become 0. */
DS_API int hierarchy_predictions(float *predictions, size_t n, const tree *hier, int only_leaves,
                                 size_t stride);
/* The product of x from node c up to its root, into *probability. */
DS_API int get_hierarchy_probability(const float *x, const tree *hier, int c, size_t stride,
                                     float *probability);
/* Walks down from group 0, taking each group's best node while the running
   product stays above thresh; returns the node where the walk stops. */
DS_API int hierarchy_top_prediction(const float *predictions, const tree *hier, float thresh,
                                    size_t stride);

#endif
