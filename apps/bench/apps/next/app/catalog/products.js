const TAGS = ['new', 'sale', 'eco', 'bestseller', 'limited', 'bundle'];
const NAMES = ['Kettle', 'Lamp', 'Chair', 'Mug', 'Backpack', 'Notebook', 'Headphones', 'Plant pot'];

/** 50 products for a page, the same for the same page, as a query would return them. */
export function products(page) {
  return Array.from({ length: 50 }, (_, i) => {
    const n = (page - 1) * 50 + i;
    return {
      sku: `SKU-${String(n).padStart(6, '0')}`,
      name: `${NAMES[n % NAMES.length]} ${n}`,
      tags: TAGS.filter((_, t) => (n >> t) & 1),
      price: ((n * 7919) % 10_000) / 100 + 1,
      stock: (n * 31) % 200,
    };
  });
}
