#ifndef DARKNET_SOFTMAX_TREE_H
#define DARKNET_SOFTMAX_TREE_H

#include <stddef.h>

/* A truth value that masks its group: delta and loss are 0 there. */
enum { SECRET_NUM = -1234 };

/* Darknet's WordTree (src/tree.h). Each run of consecutive nodes with the same
   parent is one group; group i holds nodes group_offset[i] .. + group_size[i]. */
typedef struct tree {
    size_t n;
    size_t groups;
    int *parent;          /* index of an earlier node, or -1 for a root */
    int *child;           /* the group of a node's children, or -1 for a leaf */
    int *group;           /* the group a node belongs to */
    int *leaf;            /* 1 where no node names this one as parent */
    size_t *group_size;
    size_t *group_offset;
    char **name;          /* n names, or NULL when the tree has none */
} tree;

/* Builds a tree from n parent indices; names may be NULL. On a bad parent,
   *bad_node is its index and the status is DS_ERR_FORMAT. */
int make_tree(size_t n, const int *parent, const char *const *names,
              tree **out, size_t *bad_node);
void free_tree(tree *t);

#endif
